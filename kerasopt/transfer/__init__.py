"""Transfer learning from `keras.applications` ImageNet backbones: registry, classifier, freezing, strategy, data."""
