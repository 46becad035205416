"""Ship an ensemble: a `.keras` file and a TensorFlow SavedModel that needs no kerasopt.

TensorFlow backend (the SavedModel is written by `kerasopt.export.serving.write_saved_model`).
"""

from pathlib import Path

import keras

from kerasopt._io import atomic_path
from kerasopt.export.serving import write_saved_model


def export(model, path):
    """Write `path/model.keras` and the SavedModel `path/saved_model`; return both paths.

    The SavedModel's `serving_default` signature (and its `serve` endpoint) return the
    model's output, e.g. an ensemble's combined prediction. It is a plain TensorFlow graph:
    `tf.saved_model.load` serves it in a process where neither Keras' custom objects nor
    kerasopt are importable. The `.keras` file keeps the Keras model (loading it needs
    `import kerasopt` for the combining layer). Both are written atomically.

    Example:
        >>> import tempfile, keras, numpy as np, tensorflow as tf
        >>> from kerasopt import ensembles
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="ones")])
        >>> paths = ensembles.export(model, tempfile.mkdtemp())
        >>> served = tf.saved_model.load(str(paths["saved_model"]))
        >>> served.serve(tf.constant([[1.0, 2.0]])).numpy().tolist()
        [[3.0]]
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"Argument `model` must be a keras.Model. Received: model={type(model).__name__}"
        )
    path = Path(path)
    keras_file, saved_model = path / "model.keras", path / "saved_model"
    with atomic_path(keras_file) as tmp:
        model.save(tmp)
    with atomic_path(saved_model) as tmp:
        write_saved_model(model, tmp)
    return {"keras": keras_file, "saved_model": saved_model}
