"""Freezing and unfreezing a backbone, and discriminative learning rates.

Source: the course's transfer-learning section (freeze the pretrained network and train a new
head; with more data, unfreeze more of the top layers); Howard & Ruder, "Universal Language
Model Fine-tuning for Text Classification" (ULMFiT), ACL 2018, for discriminative learning
rates (earlier layers learn more slowly than the head). BatchNormalization layers stay frozen
when unfreezing, as in Keras' transfer-learning guide: their moving statistics and their
gamma/beta keep the ImageNet values.
"""

import re

import keras

from kerasopt._validation import check_int, check_range


def freeze(model):
    """Make every weight of `model` non-trainable; return `model`.

    Example:
        >>> import keras, numpy as np
        >>> base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="conv"),
        ...                          keras.layers.BatchNormalization(name="bn")], name="base")
        >>> from kerasopt.transfer import freeze
        >>> len(freeze(base).trainable_weights)
        0
    """
    model.trainable = False
    return model


def _is_batch_norm(layer):
    return isinstance(layer, keras.layers.BatchNormalization)


def unfreeze(model, top_n_layers=None, from_layer=None):
    """Make the top of `model` trainable, BatchNormalization excepted; return the names made trainable.

    Exactly one of:
        top_n_layers: the last `top_n_layers` entries of `model.layers` (Keras' topological
            order, every layer counted, as in `model.layers[-n:]`).
        from_layer: the name of a layer of `model`; it and every layer after it.

    Every other layer, and every BatchNormalization layer, ends up non-trainable. Returns the
    names of the layers made trainable that own weights.

    Example:
        >>> import keras, numpy as np
        >>> base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="conv"),
        ...                          keras.layers.BatchNormalization(name="bn")], name="base")
        >>> from kerasopt.transfer import freeze, unfreeze
        >>> _ = freeze(base)
        >>> unfreeze(base, top_n_layers=2)  # BatchNormalization stays frozen
        ['conv']
    """
    if (top_n_layers is None) == (from_layer is None):
        raise ValueError(
            "Exactly one of `top_n_layers` and `from_layer` must be given. "
            f"Received: top_n_layers={top_n_layers!r}, from_layer={from_layer!r}"
        )
    layers = model.layers
    if top_n_layers is not None:
        start = len(layers) - check_int(
            "top_n_layers", top_n_layers, minimum=0, maximum=len(layers)
        )
    else:
        names = [layer.name for layer in layers]
        if from_layer not in names:
            raise ValueError(
                f"Argument `from_layer` must name a layer of {model.name!r}. "
                f"Received: from_layer={from_layer!r}"
            )
        start = names.index(from_layer)
    model.trainable = True  # Keras 3 sets every sublayer; then switch off the bottom and BN.
    trainable = []
    for index, layer in enumerate(layers):
        layer.trainable = index >= start and not _is_batch_norm(layer)
        if layer.trainable and layer.weights:
            trainable.append(layer.name)
    return trainable


def unfreeze_fraction(model, fraction):
    """`unfreeze(model, top_n_layers=round(fraction * len(model.layers)))`; fraction in [0, 1].

    Example:
        >>> import keras, numpy as np
        >>> base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="conv"),
        ...                          keras.layers.BatchNormalization(name="bn")], name="base")
        >>> from kerasopt.transfer import unfreeze_fraction
        >>> unfreeze_fraction(base, 0.5)  # the top half of 2 layers is "bn", which stays frozen
        []
        >>> unfreeze_fraction(base, 1.0)
        ['conv']
    """
    check_range("fraction", fraction, 0, 1)
    return unfreeze(model, top_n_layers=round(fraction * len(model.layers)))


def discriminative_optimizer(model, backbone, head_optimizer, backbone_optimizer):
    """`keras.optimizers.MultiOptimizer`: `backbone_optimizer` for the backbone's variables,
    `head_optimizer` for every other variable of `model`.

    Give the backbone a smaller learning rate (ULMFiT's discriminative fine-tuning). Variables
    are matched by the end of their `variable.path` ("<layer name>/<variable name>", one
    regular expression), so the optimizer serializes with the model and loads back.

    Example:
        >>> import keras, numpy as np
        >>> base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="conv"),
        ...                          keras.layers.BatchNormalization(name="bn")], name="base")
        >>> from kerasopt.transfer import build_classifier, discriminative_optimizer
        >>> model = build_classifier(base, n_classes=2)
        >>> opt = discriminative_optimizer(model, base, keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-4))
        >>> type(opt).__name__
        'MultiOptimizer'

    References:
        Howard & Ruder, "Universal Language Model Fine-tuning for Text Classification", ACL 2018.
    """
    model_variables = {id(v) for v in model.weights}
    if not all(id(v) in model_variables for v in backbone.weights):
        raise ValueError(
            f"Argument `backbone` must be part of `model`. Received: backbone={backbone.name!r}"
        )
    # Match "<layer>/<variable>" at the end of each path: the prefix before it depends on how
    # the model was built (and differs after `keras.models.load_model`); layer names do not.
    suffixes = sorted({"/".join(v.path.split("/")[-2:]) for v in backbone.trainable_variables})
    pattern = "(?:.*/)?(?:" + "|".join(re.escape(s) for s in suffixes) + ")"
    backbone_ids = {id(v) for v in backbone.trainable_variables}
    clashes = [
        v.path
        for v in model.trainable_variables
        if id(v) not in backbone_ids and suffixes and re.fullmatch(pattern, v.path)
    ]
    if clashes:
        raise ValueError(
            "Argument `model` must not have head layers named like backbone layers. "
            f"Received: model={model.name!r} with head variables {clashes}"
        )
    mapping = keras.optimizers.OptimizerMap(default_optimizer=head_optimizer)
    if suffixes:
        # One key, so the backbone optimizer stays a single object through serialization.
        mapping[pattern] = backbone_optimizer
    return keras.optimizers.MultiOptimizer(mapping)
