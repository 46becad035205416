"""FlipRotateZoom (the augmentation inside the compiled step) against the pipeline's augmentation
(`kerasopt.transfer.augmentation`: Keras' RandomFlip, RandomRotation, RandomZoom) and the closed
forms of their distributions, and its resampler against SciPy.

Each augmented image of a linear ramp I(x, y) = 66 + 4x is again linear away from the borders,
with gradient 4 z F R(theta)^T e_x: a least-squares plane over the central 16x16 pixels gives
the flip (the sign of the x slope), the angle and the zoom of every draw exactly, so over 2,000
draws the flip rate is checked against 1/2 (4 sigma), and the angles and zooms against their
uniform laws (|theta| ~ U(0, 18 deg), z ~ U(0.9, 1.1); Kolmogorov-Smirnov at alpha = 0.001, and the ranges' ends reached)."""

import math

import keras
import numpy as np
import pytest
from scipy import ndimage, stats

from kerasopt.layers import FlipRotateZoom
from kerasopt.layers._affine import affine_sample
from kerasopt.transfer import augmentation

pytestmark = pytest.mark.portable

N, SIZE = 2000, 32
ROTATION, ZOOM = 0.05, 0.1  # the pipeline's settings: +-18 deg, scales in [0.9, 1.1]


def _ramps(dtype):
    row = 66 + 4 * np.arange(SIZE)
    return np.broadcast_to(row[None, None, :, None], (N, SIZE, SIZE, 3)).astype(dtype)


def _draws(images):
    """(flip, angle in degrees, zoom) of each image, from its central least-squares plane."""
    centre = np.asarray(images, "float64")[:, 8:24, 8:24, 0]
    offsets = np.arange(16) - 7.5
    gx = np.einsum("nij,j->n", centre, offsets) / (16 * np.sum(offsets**2))
    gy = np.einsum("nij,i->n", centre, offsets) / (16 * np.sum(offsets**2))
    return gx < 0, np.degrees(np.arctan2(-gy, np.abs(gx))), np.hypot(gx, gy) / 4


def _check_law(flip, angle, zoom):
    assert abs(flip.mean() - 0.5) < 4 * math.sqrt(0.25 / N)
    degrees = 360 * ROTATION
    critical = 1.949 / math.sqrt(N)  # Kolmogorov-Smirnov, alpha = 0.001
    # |theta| ~ U(0, 18 deg): the sign of the measured angle turns with the flip
    assert stats.kstest(np.abs(angle), stats.uniform(0, degrees).cdf).statistic < critical
    assert stats.kstest(zoom, stats.uniform(1 - ZOOM, 2 * ZOOM).cdf).statistic < critical
    assert degrees - 0.5 < np.abs(angle).max() <= degrees + 1e-3  # P(miss) = (35/36)^2000
    assert zoom.min() < 1 - ZOOM + 0.005 and zoom.max() > 1 + ZOOM - 0.005
    assert zoom.min() >= 1 - ZOOM - 1e-4 and zoom.max() <= 1 + ZOOM + 1e-4


@pytest.mark.reference("layers.FlipRotateZoom")
def test_in_step_draws_follow_the_pipelines_laws():
    layer = FlipRotateZoom(rotation=ROTATION, zoom=ZOOM, seed=3)
    _check_law(*_draws(layer(_ramps("uint8"), training=True)))


def test_in_step_draws_are_independent():
    flip, angle, zoom = _draws(FlipRotateZoom(seed=4)(_ramps("uint8"), training=True))
    bound = 4 / math.sqrt(N)  # 4 sigma of a sample correlation of independent draws
    assert abs(np.corrcoef(np.abs(angle), zoom)[0, 1]) < bound
    assert abs(np.corrcoef(flip, zoom)[0, 1]) < bound
    assert abs(np.corrcoef(flip, np.sign(angle))[0, 1]) < bound


@pytest.mark.reference("transfer.augmentation")
def test_pipeline_augmentation_follows_the_same_marginal_laws():
    # marginals only: its Keras layers share one seed, and RandomFlip and RandomRotation draw the
    # same uniform number, so the direction of the turn follows the flip (measured here:
    # sign(angle) * (1 - 2 flip) is constant over the 2,000 draws)
    _check_law(*_draws(augmentation(seed=3)(_ramps("float32"), training=True)))


@pytest.mark.reference("layers.FlipRotateZoom")
def test_resampler_equals_scipy_bilinear_with_reflected_borders():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 9, 11, 2)).astype("uint8")
    maps = np.concatenate(
        [
            rng.uniform(0.7, 1.3, (3, 1)),
            rng.uniform(-0.4, 0.4, (3, 1)),
            rng.uniform(-3, 3, (3, 1)),
            rng.uniform(-0.4, 0.4, (3, 1)),
            rng.uniform(0.7, 1.3, (3, 1)),
            rng.uniform(-3, 3, (3, 1)),
        ],
        axis=1,
    )
    out = np.asarray(affine_sample(images, maps.astype("float32")))
    rows, cols = np.mgrid[0:9, 0:11]
    for i, (a0, a1, a2, b0, b1, b2) in enumerate(maps):
        where = [b0 * cols + b1 * rows + b2, a0 * cols + a1 * rows + a2]
        for c in range(2):
            expected = ndimage.map_coordinates(
                images[i, :, :, c].astype("float64"), where, order=1, mode="reflect"
            )
            np.testing.assert_allclose(out[i, :, :, c], expected, atol=2e-3)


def test_runs_inside_a_compiled_fit_on_uint8_batches_and_draws_every_step():
    layer = FlipRotateZoom(seed=1)
    inputs = keras.Input((8, 8, 3), dtype="uint8")
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(layer(inputs)))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    x = np.random.default_rng(0).integers(0, 256, (8, 8, 8, 3)).astype("uint8")
    before = np.array(layer.seed_generator.state)
    model.fit(x, np.zeros((8, 2), "float32"), batch_size=4, epochs=2, verbose=0)
    assert not np.array_equal(np.array(layer.seed_generator.state), before)
    np.testing.assert_array_equal(  # inference: the images as they are
        np.asarray(layer(x)), x.astype("float32")
    )
