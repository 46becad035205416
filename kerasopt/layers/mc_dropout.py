"""Monte Carlo dropout prediction (Gal & Ghahramani 2016, "Dropout as a Bayesian
Approximation: Representing Model Uncertainty in Deep Learning", ICML).

`mc_predict(model, x, samples=30)` runs `samples` stochastic forward passes with the model's
random layers active (`training=True`: Dropout, SpatialDropout, GaussianDropout and kerasopt's
DropConnect, StochasticDepth, FractionalMaxPooling2D and augmentation layers) and returns the
per-output mean and standard deviation over the passes, the MC estimate of the predictive mean
and its spread. On the TensorFlow backend the forward pass is wrapped in one `tf.function`
(traced once per batch shape); other backends call the model eagerly. BatchNormalization layers are switched to inference (their `trainable` flag is
cleared for the duration, which makes Keras 3 BatchNormalization use its moving statistics
and leave them untouched) and restored afterwards, so only the stochastic layers vary.
"""

import keras
import numpy as np

from kerasopt._validation import check_int


def mc_predict(model, x, samples=30, batch_size=256):
    """(mean, std) NumPy arrays over `samples` stochastic passes of `model` on `x`.

    Gal & Ghahramani 2016. `std` is the population standard deviation over the passes.

    Args:
        model: a Keras model (or layer) taking `x`.
        x: an array (or nested structure of arrays of equal length) of inputs.
        samples: number of passes, >= 2.
        batch_size: examples per forward call, >= 1.

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.layers import mc_predict
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5),
        ...                           keras.layers.Dense(1, kernel_initializer="ones")])
        >>> mean, std = mc_predict(model, np.ones((2, 4), "float32"), samples=20)
        >>> mean.shape, bool((std > 0).all())  # dropout stays active: the samples differ
        ((2, 1), True)

    References:
        Gal & Ghahramani, "Dropout as a Bayesian Approximation", ICML 2016.
    """
    samples = check_int("samples", samples, minimum=2)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    norms = [
        layer
        for layer in _all_layers(model)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]
    for layer in norms:
        layer.trainable = False
    forward = _forward(model)
    try:
        n = len(keras.tree.flatten(x)[0])
        total = total_sq = None
        for _ in range(samples):
            out = np.concatenate(
                [
                    np.asarray(
                        keras.ops.convert_to_numpy(forward(_rows(x, i, i + batch_size))),
                        dtype="float64",
                    )
                    for i in range(0, n, batch_size)
                ]
            )
            total = out if total is None else total + out
            total_sq = out**2 if total_sq is None else total_sq + out**2
    finally:
        for layer in norms:
            layer.trainable = True
    mean = total / samples
    return mean, np.sqrt(np.maximum(total_sq / samples - mean**2, 0.0))


def _rows(x, start, stop):
    return keras.tree.map_structure(lambda a: a[start:stop], x)


def _forward(model):
    def forward(batch):
        return model(batch, training=True)

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(forward)
    return forward


def _all_layers(model):
    return (
        model._flatten_layers(include_self=True, recursive=True)
        if hasattr(model, "_flatten_layers")
        else [model]
    )
