"""DropConnect (Wan et al. 2013, "Regularization of Neural Networks using DropConnect", ICML).

Dropout zeroes activations; DropConnect zeroes *weights*: during training each kernel entry is
kept with probability `1 - rate` and kept entries are scaled by `1 / (1 - rate)` (inverted
scaling, as Keras' Dropout), so the expected kernel equals the full kernel and inference uses
the plain layer unchanged.

Design: two subclasses, `DropConnectDense` (a `keras.layers.Dense`) and `DropConnectConv2D`
(a `keras.layers.Conv2D`). They accept every argument of their parent plus `rate` and `seed`,
so weights, initializers, regularizers and saving behave exactly as the parent's.

Mask granularity: ONE mask per call (per batch), shared by all examples of the batch. Wan et
al. draw a mask per example, which needs a separate kernel per example (batch x kernel memory);
the per-batch mask is the standard cheap variant and gives the same expected gradient.
The bias is not dropped.

Inference (`training` false or None) calls the parent's `call` unchanged, so outputs equal
the plain layer with the same weights bit for bit. Runs under `jit_compile=True` and in
`tf.data` pipelines; keeps the compute dtype under mixed_float16.
"""

import keras
from keras import ops

from kerasopt._validation import check_range
from kerasopt.layers._random import inverted_keep_mask


class _DropConnectKernel:
    """Mixin: while a training call runs, reading `self.kernel` yields the masked kernel.

    The parent's `call` reads `self.kernel` once, so masking the property is the whole change
    and the parent's computation (matmul/convolution, bias, activation) is reused as is.
    """

    def _init_drop_connect(self, rate, seed):
        self.rate = check_range("rate", rate, 0.0, 1.0, high_inclusive=False)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._drop_weights = False

    @property
    def kernel(self):
        kernel = super().kernel
        if not self._drop_weights:
            return kernel
        kernel = ops.cast(kernel, self.compute_dtype)
        return kernel * inverted_keep_mask(
            ops.shape(kernel), 1.0 - self.rate, self.seed_generator, self.compute_dtype
        )

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return super().call(inputs)
        self._drop_weights = True
        try:
            return super().call(inputs)
        finally:
            self._drop_weights = False

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="kerasopt")
class DropConnectDense(_DropConnectKernel, keras.layers.Dense):
    """`keras.layers.Dense` whose kernel entries are dropped with probability `rate` in training.

    Wan et al. 2013. One Bernoulli(1 - rate) mask over the (in, units) kernel per call (per
    batch), kept weights scaled by 1/(1 - rate); bias kept. Inference == `Dense` exactly.

    Args:
        units: as `keras.layers.Dense`.
        rate: drop probability in [0, 1).
        seed: int or None, for the mask's `SeedGenerator`.
        **kwargs: any other `keras.layers.Dense` argument.

    Example:
        >>> import numpy as np
        >>> from kerasopt.layers import DropConnectDense
        >>> layer = DropConnectDense(3, rate=0.5, seed=0, kernel_initializer="ones")
        >>> x = np.ones((2, 4), "float32")
        >>> np.asarray(layer(x, training=False)).tolist()  # inference: x @ W + b
        [[4.0, 4.0, 4.0], [4.0, 4.0, 4.0]]
        >>> y = np.asarray(layer(x, training=True))  # kept weights scaled by 1 / (1 - rate) = 2
        >>> bool(np.all(y % 2 == 0)), bool(np.array_equal(y[0], y[1]))  # one mask per batch
        (True, True)

    References:
        Wan et al., "Regularization of Neural Networks using DropConnect", ICML 2013.
    """

    def __init__(self, units, rate=0.5, seed=None, **kwargs):
        super().__init__(units, **kwargs)
        self._init_drop_connect(rate, seed)


@keras.saving.register_keras_serializable(package="kerasopt")
class DropConnectConv2D(_DropConnectKernel, keras.layers.Conv2D):
    """`keras.layers.Conv2D` whose kernel entries are dropped with probability `rate` in training.

    Wan et al. 2013 applied to a convolution kernel: one Bernoulli(1 - rate) mask over the
    (kh, kw, in, filters) kernel per call (per batch), kept weights scaled by 1/(1 - rate);
    bias kept. Inference == `Conv2D` exactly.

    Args:
        filters: as `keras.layers.Conv2D`.
        kernel_size: as `keras.layers.Conv2D`.
        rate: drop probability in [0, 1).
        seed: int or None, for the mask's `SeedGenerator`.
        **kwargs: any other `keras.layers.Conv2D` argument.

    Example:
        >>> import numpy as np
        >>> from kerasopt.layers import DropConnectConv2D
        >>> layer = DropConnectConv2D(4, 3, rate=0.5, seed=0)
        >>> x = np.ones((1, 5, 5, 2), "float32")
        >>> y = layer(x, training=False)  # inference is the plain Conv2D
        >>> bool(np.allclose(y, np.asarray(layer.convolution_op(x, layer.kernel)) + np.asarray(layer.bias)))
        True

    References:
        Wan et al., "Regularization of Neural Networks using DropConnect", ICML 2013.
    """

    def __init__(self, filters, kernel_size, rate=0.5, seed=None, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self._init_drop_connect(rate, seed)
