"""RandomResizedCrop: crop geometry decoded from an image whose pixels encode their coordinates."""

import keras
import numpy as np
import pytest

from kerasopt.layers import RandomResizedCrop

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too

H, W, OUT = 30, 45, 12


def _coordinate_images(batch):
    """Channel 0 holds the row index, channel 1 the column index (pixel centres at j + 0.5 - 0.5)."""
    rows, cols = np.meshgrid(
        np.arange(H, dtype="float32"), np.arange(W, dtype="float32"), indexing="ij"
    )
    return np.broadcast_to(np.stack([rows, cols], -1), (batch, H, W, 2)).copy()


def _decode(values, size):
    """(start, length) of the box edges from samples t_i = start + (i + 0.5) length / OUT - 0.5.

    Bilinear interpolation reproduces a linear image exactly, except where the sample is clamped
    to the border [0, size - 1]; those samples are left out of the fit.
    """
    i = np.arange(OUT)
    free = (values > 1e-4) & (values < size - 1 - 1e-4)
    assert free.sum() >= 2
    slope, intercept = np.polyfit(i[free] + 0.5, values[free], 1)
    return intercept + 0.5, slope * OUT


def _boxes(out):
    return np.array(
        [(*_decode(o[:, 0, 0], H), *_decode(o[0, :, 1], W)) for o in out]
    )  # top, h, left, w


@pytest.mark.parametrize("scale,ratio", [((0.08, 1.0), (3 / 4, 4 / 3)), ((0.3, 0.5), (0.5, 2.0))])
@pytest.mark.reference("layers.RandomResizedCrop")
def test_every_crop_area_and_aspect_in_range(scale, ratio):
    out = np.asarray(
        RandomResizedCrop(OUT, OUT, scale, ratio, seed=1)(_coordinate_images(300), training=True)
    )
    top, h, left, w = _boxes(out).T
    area, aspect, tol = h * w / (H * W), w / h, 1e-3
    assert np.all((area >= scale[0] - tol) & (area <= scale[1] + tol))
    assert np.all((aspect >= ratio[0] * (1 - tol)) & (aspect <= ratio[1] * (1 + tol)))
    assert np.all((top >= -tol) & (top + h <= H + tol) & (left >= -tol) & (left + w <= W + tol))
    # the draws spread over the ranges rather than sitting at one value
    assert area.min() < scale[0] + 0.25 * (scale[1] - scale[0]) and area.max() > scale[1] - 0.25 * (
        scale[1] - scale[0]
    )


def test_inference_is_centre_crop_with_output_aspect_and_deterministic():
    layer = RandomResizedCrop(OUT, OUT)
    out = np.asarray(layer(_coordinate_images(2)))
    np.testing.assert_array_equal(out, np.asarray(layer(_coordinate_images(2), training=False)))
    top, h, left, w = _boxes(out)[0]
    np.testing.assert_allclose([top, h, left, w], [0, H, (W - H) / 2, H], atol=1e-3)


def _numpy_bilinear_resize(x, size):
    """Half-pixel-centre bilinear resize without antialiasing (TensorFlow's "bilinear"), NumPy."""
    for axis in (1, 2):
        n = x.shape[axis]
        t = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0, n - 1)
        low = np.floor(t).astype(int)
        high, weight = np.minimum(low + 1, n - 1), t - low
        shape = [1, 1, 1, 1]
        shape[axis] = size
        weight = weight.reshape(shape)
        x = np.take(x, low, axis=axis) * (1 - weight) + np.take(x, high, axis=axis) * weight
    return x


@pytest.mark.reference("layers.RandomResizedCrop")
def test_inference_on_same_aspect_image_is_bilinear_resize():
    x = np.random.default_rng(0).uniform(size=(3, 20, 20, 3)).astype("float32")
    for size in (8, 31):  # down- and up-sampling
        expected = _numpy_bilinear_resize(x.astype("float64"), size)
        np.testing.assert_allclose(
            np.asarray(RandomResizedCrop(size, size)(x)), expected, atol=1e-5
        )


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.image is TensorFlow's")
def test_numpy_resize_reference_is_tf_image_resize():
    import tensorflow as tf

    x = np.random.default_rng(0).uniform(size=(2, 20, 20, 3)).astype("float32")
    for size in (8, 31):
        expected = tf.image.resize(x, (size, size), "bilinear", antialias=False).numpy()
        np.testing.assert_allclose(_numpy_bilinear_resize(x, size), expected, atol=1e-5)


def test_single_image_and_integer_input():
    x = np.random.default_rng(1).integers(0, 255, size=(20, 20, 3)).astype("uint8")
    out = RandomResizedCrop(8, 8)(x, training=True)
    assert tuple(out.shape) == (8, 8, 3) and "float" in str(out.dtype)
