"""FractionalMaxPooling2D: region rules of Graham 2014 decoded from coordinate-encoding images."""

import functools
import math

import numpy as np
import pytest

from kerasopt.layers import FractionalMaxPooling2D

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too

H, W = 25, 20  # ratio 1.44 -> 17 x 13 outputs


def _regions(layer, training, call=None):
    """(row_starts, row_lasts, col_starts, col_lasts) decoded from two coordinate images.

    Pixel (h, w) holds h * W + w: a region's max is its bottom-right pixel, and the max of the
    negated image is its top-left pixel. Layer calls with a fixed seed state reproduce regions,
    so both images go through one call as a batch of two.
    """
    code = (np.arange(H)[:, None] * W + np.arange(W)[None, :]).astype("float32")
    call = call or (lambda x: layer(x, training=training))
    out = np.asarray(call(np.stack([code, -code])[..., None]))[..., 0]
    lasts, starts = out[0].astype(int), (-out[1]).astype(int)
    return starts[:, 0] // W, lasts[:, 0] // W, starts[0] % W, lasts[0] % W


@functools.lru_cache(maxsize=None)
def _graham_pseudo_random(size, out):
    """Every sequence a_i = ceil(alpha (i + u)) - ceil(alpha u), u on a fine grid of (0, 1)."""
    alpha = size / out
    return {
        tuple(math.ceil(alpha * (i + u)) - math.ceil(alpha * u) for i in range(out + 1))
        for u in np.linspace(1e-4, 1 - 1e-4, 20001)
    }


@pytest.mark.parametrize("overlapping", [True, False])
@pytest.mark.parametrize("pseudo_random", [True, False])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.reference("layers.FractionalMaxPooling2D")
def test_regions_follow_graham(pseudo_random, overlapping, training):
    layer = FractionalMaxPooling2D(
        1.44, pseudo_random=pseudo_random, overlapping=overlapping, seed=4
    )
    row_starts, row_lasts, col_starts, col_lasts = _regions(layer, training)
    for size, starts, lasts in ((H, row_starts, row_lasts), (W, col_starts, col_lasts)):
        out = math.floor(size / 1.44)
        assert len(starts) == out and starts[0] == 0 and lasts[-1] == size - 1
        bounds = np.append(starts, size)
        q = size // out
        assert set(np.diff(bounds)) <= {q, q + 1}
        np.testing.assert_array_equal(lasts[:-1], starts[1:] - (0 if overlapping else 1))
        if pseudo_random or not training:
            assert tuple(bounds) in _graham_pseudo_random(size, out)


@pytest.mark.reference("layers.FractionalMaxPooling2D")
def test_inference_deterministic_and_is_max_over_regions():
    layer = FractionalMaxPooling2D((1.5, 1.3), seed=1)
    x = np.random.default_rng(0).normal(size=(2, H, W, 3)).astype("float32")
    first = np.asarray(layer(x))
    np.testing.assert_array_equal(first, np.asarray(layer(x, training=False)))
    layer_h = FractionalMaxPooling2D((1.5, 1.3))
    code = (np.arange(H)[:, None] * W + np.arange(W)[None, :]).astype("float32")
    out = np.asarray(layer_h(np.stack([code, -code])[..., None]))[..., 0].astype(int)
    rs, rl, cs, cl = (-out[1])[:, 0] // W, out[0][:, 0] // W, (-out[1])[0] % W, out[0][0] % W
    expected = np.array(
        [
            [x[:, a : b + 1, c : d + 1].max(axis=(1, 2)) for c, d in zip(cs, cl, strict=True)]
            for a, b in zip(rs, rl, strict=True)
        ]
    )
    np.testing.assert_array_equal(first, expected.transpose(2, 0, 1, 3))


def test_random_mode_places_long_steps_uniformly_within_4_sigma(repeated_call):
    layer, draws = FractionalMaxPooling2D(1.44, pseudo_random=False, seed=2), 300
    out = math.floor(H / 1.44)
    q, k = H // out, H - (H // out) * out  # k steps of length q + 1 among `out`
    long, compiled = np.zeros(out), repeated_call(lambda x: layer(x, training=True))
    for _ in range(draws):
        starts = _regions(layer, True, compiled)[0]
        long += np.diff(np.append(starts, H)) == q + 1
    p = k / out
    assert np.all(np.abs(long / draws - p) <= 4 * np.sqrt(p * (1 - p) / draws))
