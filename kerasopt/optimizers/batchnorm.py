"""Re-estimating BatchNormalization statistics for averaged weights."""

import keras
import numpy as np

from kerasopt._validation import check_instance, check_int


def recompute_batchnorm(model, data, batch_size=128):
    """Re-estimates the moving mean and variance of every BatchNormalization layer.

    After averaged weights (Polyak/SWA) are written into a model, the BatchNormalization
    moving statistics still describe the raw iterates; Izmailov et al., "Averaging
    weights leads to wider optima and better generalization" (UAI 2018, sec. 3.2)
    recompute them with one pass over the training data. This does that pass in
    training mode, with the momentum of batch i set to (i - 1) / i so that each moving
    statistic ends as the equal-weight mean of the per-batch statistics. The layers'
    momenta are restored afterwards; other weights are unchanged (layers such as
    Dropout run in training mode during the pass, as in the paper's procedure).

    Args:
        model: a built `keras.Model`.
        data: an array (or tensor) of inputs, an `(x, y)` tuple, or an iterable of
            batches (e.g. a `tf.data.Dataset`) whose elements are inputs or
            `(x, y[, sample_weight])` tuples.
        batch_size: int >= 1, used when `data` is an array or an `(x, y)` tuple.

    Returns:
        The number of batches used (0 when the model has no BatchNormalization layer).

    Example:
        The moving mean becomes the equal-weight mean of the batch means:

        >>> import keras, numpy as np
        >>> from kerasopt.optimizers import recompute_batchnorm
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.BatchNormalization()])
        >>> x = np.array([[1.0], [3.0], [5.0], [7.0]], "float32")
        >>> _ = recompute_batchnorm(model, x, batch_size=2)
        >>> float(model.layers[0].moving_mean.numpy()[0])  # mean of (2, 6)
        4.0

    References:
        Izmailov et al., "Averaging weights leads to wider optima and better generalization", UAI 2018.
    """
    check_instance("model", model, keras.Model, "a keras.Model")
    check_int("batch_size", batch_size, minimum=1)
    layers = [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    if not layers:
        return 0
    if isinstance(data, tuple):
        data = data[0]
    if hasattr(data, "shape"):
        array = np.asarray(data)
        batches = (array[i : i + batch_size] for i in range(0, len(array), batch_size))
    else:
        batches = (b[0] if isinstance(b, (tuple, list)) else b for b in data)
    momenta = [layer.momentum for layer in layers]
    count = 0
    try:
        for count, batch in enumerate(batches, start=1):
            for layer in layers:
                layer.momentum = (count - 1) / count
            model(batch, training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    if count == 0:
        raise ValueError(f"Argument `data` must hold at least one batch. Received: data={data!r}")
    return count
