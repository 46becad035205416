"""Delta-orthogonal convolution kernels (Xiao et al. 2018, "Dynamical isometry and a mean
field theory of CNNs: how to train 10,000-layer vanilla convolutional neural networks",
algorithm 1).

The kernel is zero everywhere except at the spatial centre, where it holds an orthogonal
(in_channels x filters) matrix times `gain`: at initialization the convolution acts on each
position as an orthogonal map of the channels, so the input-output Jacobian is orthogonal
and signals keep their norm across very deep networks.
"""

import keras
import numpy as np
from keras import ops

from kerasopt._validation import check_positive
from kerasopt.initializers._seed import SeededInitializer


@keras.saving.register_keras_serializable(package="kerasopt")
class DeltaOrthogonal(SeededInitializer):
    """Orthogonal centre tap times `gain`, zeros elsewhere, for Conv1D/2D/3D kernels.

    Kernel shape `(*spatial, in_channels, filters)`; the centre tap is at index `size // 2`
    in each spatial axis (for even sizes, the lower of the two middle positions).

    in_channels > filters: Xiao et al. require in_channels <= filters, because only then can
    the centre matrix have orthonormal rows (an isometry of the input channels). Here that
    case is allowed and handled as Keras' `Orthogonal` does: the centre matrix has
    orthonormal columns instead (W^T W = gain^2 I), a projection onto `filters` channels. It
    preserves the norm of inputs in its row space only, so dynamical isometry is not exact;
    use in_channels <= filters when that matters.

    Args:
        gain: multiplicative factor of the orthogonal matrix (> 0); see
            `kerasopt.initializers.gain` for the value suited to an activation.
        seed: None, an integer >= 0, or a `keras.random.SeedGenerator`.

    Example:
        >>> import numpy as np
        >>> from kerasopt.initializers import DeltaOrthogonal
        >>> kernel = np.asarray(DeltaOrthogonal(gain=2.0, seed=0)((3, 3, 4, 4)))
        >>> bool(np.allclose(kernel[1, 1].T @ kernel[1, 1], 4.0 * np.eye(4), atol=1e-5))  # centre: 2 x orthogonal
        True
        >>> float(np.abs(kernel).sum() - np.abs(kernel[1, 1]).sum())  # zeros elsewhere
        0.0

    References:
        Xiao et al., "Dynamical Isometry and a Mean Field Theory of CNNs", ICML 2018.
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = check_positive("gain", gain)
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if not 3 <= len(shape) <= 5:
            raise ValueError(
                "Argument `shape` must be a Conv1D/2D/3D kernel shape (*spatial, in_channels, "
                f"filters) of rank 3 to 5. Received: shape={shape}"
            )
        spatial, channels = shape[:-2], shape[-2:]
        orthogonal = keras.initializers.Orthogonal(gain=self.gain, seed=self.seed)
        centre = orthogonal(channels, dtype=dtype)
        delta = np.zeros(spatial, dtype="float32")
        delta[tuple(s // 2 for s in spatial)] = 1.0
        delta = ops.cast(ops.reshape(delta, spatial + (1, 1)), centre.dtype)
        return delta * ops.reshape(centre, (1,) * len(spatial) + channels)

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}
