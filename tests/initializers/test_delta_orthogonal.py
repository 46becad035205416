"""DeltaOrthogonal: centre tap is gain x orthogonal (Xiao et al. 2018), other taps exactly zero."""

import keras
import numpy as np
import pytest

from kerasopt.initializers import DeltaOrthogonal

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


def _check(kernel, gain):
    kernel = np.asarray(kernel, dtype="float64")
    spatial = kernel.shape[:-2]
    centre_index = tuple(s // 2 for s in spatial)
    centre = kernel[centre_index]
    cin, cout = centre.shape
    gram = centre @ centre.T if cin <= cout else centre.T @ centre  # the fewer of rows / columns
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(cin, cout)), atol=1e-5)
    others = kernel.copy()
    others[centre_index] = 0.0
    assert np.count_nonzero(others) == 0


@pytest.mark.parametrize(
    "shape, gain",
    [
        ((3, 8, 16), 1.0),  # Conv1D
        ((3, 3, 16, 16), 1.5925),  # Conv2D, square centre
        ((5, 5, 4, 32), 2.0),  # Conv2D, in < out: orthonormal rows
        ((3, 3, 32, 8), 1.0),  # Conv2D, in > out: orthonormal columns
        ((3, 3, 3, 6, 6), 0.7),  # Conv3D
        ((4, 4, 6, 6), 1.0),  # even size: centre at index 2
    ],
)
@pytest.mark.reference("initializers.DeltaOrthogonal")
def test_centre_tap_is_scaled_orthogonal_and_others_zero(shape, gain):
    _check(DeltaOrthogonal(gain=gain, seed=11)(shape), gain)


def test_conv_layer_preserves_norm_at_init():
    # With in <= out and "same" padding, every output position is centre @ input: norms kept.
    layer = keras.layers.Conv2D(
        24, 3, padding="same", use_bias=False, kernel_initializer=DeltaOrthogonal(seed=1)
    )
    x = np.random.default_rng(0).normal(size=(4, 9, 9, 16)).astype("float32")
    y = np.asarray(layer(x))
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5)


def test_seeds_follow_keras_semantics():
    np.testing.assert_array_equal(
        DeltaOrthogonal(seed=2)((3, 3, 4, 4)), DeltaOrthogonal(seed=2)((3, 3, 4, 4))
    )
    init = DeltaOrthogonal(seed=keras.random.SeedGenerator(2))
    assert not np.array_equal(init((3, 3, 4, 4)), init((3, 3, 4, 4)))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="gain=0"):
        DeltaOrthogonal(gain=0)
    with pytest.raises(TypeError, match="gain='big'"):
        DeltaOrthogonal(gain="big")
    with pytest.raises(ValueError, match=r"shape=\(8, 8\)"):
        DeltaOrthogonal()((8, 8))
