"""Fractional max pooling (Graham 2014, "Fractional Max-Pooling", arXiv:1412.6071).

Max pooling shrinks each spatial size by an integer factor; fractional max pooling shrinks
a size N by a real ratio alpha (e.g. 1.44), to N_out = floor(N / alpha), using pooling regions
whose boundaries 0 = a_0 < a_1 < ... < a_{N_out} = N advance by q = floor(N / N_out) or q + 1.
Graham's two ways to choose the increments:

- pseudo-random: a_i = ceil(alpha (i + u)) for a random offset u. Here, in exact integer
  arithmetic, a_i = floor((i N + c) / N_out) - floor(c / N_out) with c uniform in
  {0, ..., N_out - 1} (the N_out distinct phases of Graham's u).
- random: the N - q N_out increments equal to q + 1 are placed at uniformly random positions.

Regions are [a_{i-1}, a_i - 1] (disjoint) or [a_{i-1}, a_i] (overlapping, clipped to N - 1).
Rows and columns get independent sequences; one pair of sequences per call (per batch, as
TensorFlow's `tf.nn.fractional_max_pool`).

Inference (fixed, documented choice): the pseudo-random sequence with the middle phase
c = N_out // 2 for both modes, so inference is deterministic. (Graham averages several
random draws at test time instead: `kerasopt.layers.mc_predict` does that.)

Pure `keras.ops` with static index arithmetic (gather + max, separable over rows and
columns): runs under `jit_compile=True` (XLA) and in `tf.data`. Needs static spatial sizes.
`channels_last` only.
"""

import math

import keras
from keras import ops

from kerasopt._validation import check_bool, check_number, check_range


@keras.saving.register_keras_serializable(package="kerasopt")
class FractionalMaxPooling2D(keras.layers.Layer):
    """Max pooling over random pseudo-random or random regions shrinking H and W by real ratios.

    Graham 2014. Output size floor(H / ratio_h) x floor(W / ratio_w); see the module docstring
    for the region rules and the fixed inference regions.

    Args:
        pooling_ratio: a number or a pair (ratio_h, ratio_w), each >= 1.
        pseudo_random: True for Graham's pseudo-random sequences, False for random ones.
        overlapping: True for regions [a_{i-1}, a_i], False for [a_{i-1}, a_i - 1].
        seed: int or None.

    Example:
        >>> import numpy as np
        >>> from kerasopt.layers import FractionalMaxPooling2D
        >>> x = np.arange(100, dtype="float32").reshape(1, 10, 10, 1)
        >>> y = FractionalMaxPooling2D(pooling_ratio=(1.44, 1.44))(x, training=False)
        >>> tuple(y.shape), float(np.asarray(y).max())  # floor(10 / 1.44) = 6; the maximum survives
        ((1, 6, 6, 1), 99.0)

    References:
        Graham, "Fractional Max-Pooling", arXiv:1412.6071, 2014.
    """

    def __init__(
        self, pooling_ratio=(1.44, 1.44), pseudo_random=True, overlapping=True, seed=None, **kwargs
    ):
        super().__init__(**kwargs)
        ratios = (
            tuple(pooling_ratio)
            if isinstance(pooling_ratio, (tuple, list))
            else (pooling_ratio,) * 2
        )
        if len(ratios) != 2:
            raise ValueError(
                f"Argument `pooling_ratio` must be a number or a pair. Received: pooling_ratio={pooling_ratio!r}"
            )
        for r in ratios:
            check_number("pooling_ratio", r)
            check_range("pooling_ratio", r, low=1.0)
        self.pooling_ratio = ratios
        self.pseudo_random = check_bool("pseudo_random", pseudo_random)
        self.overlapping = check_bool("overlapping", overlapping)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _output_size(self, size, ratio):
        if size is None:
            raise ValueError(
                "Argument `inputs` must have static height and width for FractionalMaxPooling2D. Received: a dimension of size None"
            )
        out = int(math.floor(size / ratio))
        if out < 1:
            raise ValueError(
                f"Argument `pooling_ratio` is too large for an input size {size}. Received: pooling_ratio={ratio!r}"
            )
        return out

    def _boundaries(self, size, out, training):
        """int32 (out + 1,) region boundaries a_0 = 0 < ... < a_out = size."""
        steps = ops.arange(out + 1, dtype="int32")
        if training and not self.pseudo_random:
            q = size // out
            rank = ops.argsort(ops.argsort(keras.random.uniform((out,), seed=self.seed_generator)))
            increments = q + ops.cast(rank < size - q * out, "int32")
            return ops.concatenate([ops.zeros((1,), "int32"), ops.cumsum(increments)])
        if training:
            phase = keras.random.randint((), 0, out, seed=self.seed_generator, dtype="int32")
        else:
            phase = out // 2
        return ops.floor_divide(steps * size + phase, out) - ops.floor_divide(phase, out)

    def _pool_axis(self, x, axis, size, out, training):
        bounds = self._boundaries(size, out, training)
        span = size // out + 1 + int(self.overlapping)  # longest region
        starts = bounds[:-1]
        lasts = ops.minimum(bounds[1:] - 1 + int(self.overlapping), size - 1)
        index = ops.minimum(
            starts[:, None] + ops.arange(span, dtype="int32")[None, :], lasts[:, None]
        )
        gathered = ops.take(x, ops.reshape(index, (-1,)), axis=axis)
        shape = [-1] + list(ops.shape(x))[1:]
        shape[axis : axis + 1] = [out, span]
        return ops.max(ops.reshape(gathered, shape), axis=axis + 1)

    def call(self, inputs, training=None):
        _, height, width, _ = inputs.shape
        out_h, out_w = (
            self._output_size(s, r)
            for s, r in zip((height, width), self.pooling_ratio, strict=True)
        )
        x = self._pool_axis(inputs, 1, height, out_h, training)
        return self._pool_axis(x, 2, width, out_w, training)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (
            b,
            self._output_size(h, self.pooling_ratio[0]),
            self._output_size(w, self.pooling_ratio[1]),
            c,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "pooling_ratio": self.pooling_ratio,
            "pseudo_random": self.pseudo_random,
            "overlapping": self.overlapping,
            "seed": self.seed,
        }
