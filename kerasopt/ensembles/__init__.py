"""Build, load and export snapshot ensembles as one servable Keras model."""
