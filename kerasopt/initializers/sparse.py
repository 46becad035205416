"""Sparse initialization (Martens 2010, "Deep learning via Hessian-free optimization", sec. 5).

Each unit receives exactly `k` non-zero incoming weights (Martens used k = 15) drawn from
N(0, stddev^2); all other incoming weights are zero. A unit's total input then has a scale
that does not depend on its fan-in, and the units still differ (symmetry is broken)
(Goodfellow et al., Deep Learning, sec. 8.4).
"""

import math

import keras
from keras import ops

from kerasopt._validation import check_int, check_positive
from kerasopt.initializers._seed import SeededInitializer


@keras.saving.register_keras_serializable(package="kerasopt")
class Sparse(SeededInitializer):
    """Exactly `k` non-zero N(0, stddev^2) incoming weights per output unit.

    The kernel is read as a (fan_in, units) matrix: a Dense kernel (in, units), or a conv
    kernel (*spatial, in_channels, filters) whose fan-in is kernel area x input channels.
    Each column gets `k` non-zeros at positions drawn uniformly without replacement; when
    `k >= fan_in` every weight is non-zero (a dense Gaussian). Seeds behave as in Keras'
    random initializers (see `kerasopt.initializers._seed`).

    Args:
        k: number of non-zero incoming weights per unit (>= 1).
        stddev: standard deviation of the non-zero weights (> 0).
        seed: None, an integer >= 0, or a `keras.random.SeedGenerator`.

    Example:
        >>> import numpy as np
        >>> from kerasopt.initializers import Sparse
        >>> kernel = np.asarray(Sparse(k=3, seed=0)((10, 4)))
        >>> (kernel != 0).sum(axis=0).tolist()  # exactly k incoming weights per unit
        [3, 3, 3, 3]

    References:
        Martens, "Deep learning via Hessian-free optimization", ICML 2010, sec. 5.
    """

    def __init__(self, k, stddev=1.0, seed=None):
        self.k = check_int("k", k, minimum=1)
        self.stddev = check_positive("stddev", stddev)
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(
                f"Argument `shape` must have rank >= 2 (a Dense or conv kernel). Received: shape={shape}"
            )
        fan_in, units = math.prod(shape[:-1]), shape[-1]
        values = keras.random.normal(
            (fan_in, units), stddev=self.stddev, dtype=dtype, seed=self.sub_seed(0)
        )
        if self.k < fan_in:
            # A uniform random ranking of the inputs of each unit; the k best ranked are kept.
            scores = keras.random.uniform((fan_in, units), seed=self.sub_seed(1))
            ranks = ops.argsort(ops.argsort(scores, axis=0), axis=0)
            values = ops.where(ranks < self.k, values, ops.zeros_like(values))
        return ops.reshape(values, shape)

    def get_config(self):
        return {"k": self.k, "stddev": self.stddev, **super().get_config()}
