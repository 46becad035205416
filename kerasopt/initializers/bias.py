"""Output bias from the label marginals (Goodfellow et al., Deep Learning, sec. 8.4).

Set the output layer's bias so that, with a zero (or small) kernel, the model predicts the
marginal statistics of the targets: the bias is the inverse of the output activation applied
to those marginals. Softmax: log class frequencies (softmax(log p) = p); sigmoid: the logit
of each label's frequency; linear: the target mean. Training then starts from the best
constant predictor instead of spending its first steps learning it (see also Karpathy 2019,
"A recipe for training neural networks": "init well").
"""

import keras
import numpy as np
from keras import ops

from kerasopt._validation import check_choice

_ACTIVATIONS = ("softmax", "sigmoid", "linear")
# Frequencies are clipped to [eps, 1 - eps] so a class absent from `y` gets a large finite
# negative bias instead of -inf.
_EPS = 1e-7


def prior_bias(y, activation):
    """The output bias vector whose activation equals the label marginals of `y`.

    Args:
        y: targets. "softmax": integer class labels of shape (n,) (classes 0..max(y)) or
            one-hot rows of shape (n, classes). "sigmoid": 0/1 labels of shape (n,) or
            (n, labels), or label probabilities in [0, 1]. "linear": targets of shape (n,)
            or (n, outputs).
        activation: "softmax", "sigmoid" or "linear": the output layer's activation.

    Returns:
        A float32 NumPy vector, one entry per output unit.

    Example:
        >>> import numpy as np
        >>> from kerasopt.initializers import prior_bias
        >>> b = prior_bias(np.array([0, 0, 0, 1]), "softmax")
        >>> np.round(np.exp(b) / np.exp(b).sum(), 4).tolist()  # softmax(b) = class frequencies
        [0.75, 0.25]
        >>> float(prior_bias(np.array([1.0, 3.0]), "linear")[0])  # linear: the target mean
        2.0

    References:
        Goodfellow, Bengio & Courville, Deep Learning, 2016, sec. 8.4.
    """
    check_choice("activation", activation, _ACTIVATIONS)
    y = np.asarray(y)
    if y.ndim not in (1, 2) or y.shape[0] == 0 or not np.issubdtype(y.dtype, np.number):
        raise ValueError(
            "Argument `y` must be a non-empty numeric array of shape (n,) or (n, outputs). "
            f"Received: y with shape={y.shape} and dtype={y.dtype}"
        )
    if activation == "linear":
        return np.atleast_1d(y.mean(axis=0)).astype("float32")
    if activation == "softmax" and y.ndim == 1:
        if not np.all(y == np.round(y)) or y.min() < 0:
            raise ValueError(
                "Argument `y` must hold non-negative integer class labels for activation='softmax'. "
                f"Received: y with min={y.min().item()!r} and dtype={y.dtype}"
            )
        freq = np.bincount(y.astype("int64")) / len(y)
    else:
        if y.min() < 0 or y.max() > 1:
            raise ValueError(
                f"Argument `y` must be in [0, 1] for activation={activation!r}. "
                f"Received: y with min={y.min().item()!r} and max={y.max().item()!r}"
            )
        freq = np.atleast_1d(y.mean(axis=0))
    freq = np.clip(freq.astype("float64"), _EPS, 1.0 - _EPS)
    bias = np.log(freq) if activation == "softmax" else np.log(freq) - np.log1p(-freq)
    return bias.astype("float32")


@keras.saving.register_keras_serializable(package="kerasopt")
class PriorBias(keras.initializers.Initializer):
    """A bias initializer holding a fixed vector, usually `prior_bias(y, activation)`.

    Args:
        values: the bias vector (a sequence of numbers); its length must equal the layer's
            number of units.

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.initializers import PriorBias, prior_bias
        >>> y = np.array([0, 0, 0, 1])
        >>> layer = keras.layers.Dense(2, activation="softmax", bias_initializer=PriorBias(prior_bias(y, "softmax")))
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_initializer="zeros",
        ...     activation="softmax", bias_initializer=PriorBias(prior_bias(y, "softmax")))])
        >>> np.round(model.predict(np.zeros((1, 3)), verbose=0), 4).tolist()  # the label frequencies
        [[0.75, 0.25]]

    References:
        Goodfellow, Bengio & Courville, Deep Learning, 2016, sec. 8.4.
    """

    def __init__(self, values):
        array = np.asarray(values, dtype="float64")
        if array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array)):
            raise ValueError(
                "Argument `values` must be a non-empty 1-D sequence of finite numbers. "
                f"Received: values={values!r}"
            )
        self.values = [float(v) for v in array]

    def __call__(self, shape, dtype=None):
        if tuple(shape) != (len(self.values),):
            raise ValueError(
                f"Argument `shape` must be ({len(self.values)},), the length of `values`. "
                f"Received: shape={tuple(shape)}"
            )
        return ops.convert_to_tensor(np.asarray(self.values), dtype=dtype or keras.backend.floatx())

    def get_config(self):
        return {"values": list(self.values)}
