"""DropConnect: dropped-weight fraction, unbiasedness, exact inference, gradients only to kept weights."""

import keras
import numpy as np
import pytest

from kerasopt.layers import DropConnectConv2D, DropConnectDense

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too

RATE = 0.3


def _dense(rate=RATE, in_dim=16, units=32):
    layer = DropConnectDense(units, rate=rate, seed=3, bias_initializer="random_normal")
    layer.build((None, in_dim))
    return layer


@pytest.mark.reference("layers.DropConnectDense")
def test_dropped_weight_fraction_within_4_sigma_and_kept_weights_scaled():
    # Feeding the identity matrix returns the (masked, scaled) kernel itself as the output rows
    # (bias subtracted): every entry is 0 (dropped) or kernel / (1 - rate) (kept).
    layer, draws = _dense(), 40
    kernel, bias = (np.asarray(v) for v in (layer.kernel, layer.bias))
    eye = np.eye(16, dtype="float32")
    dropped = 0
    for _ in range(draws):
        masked = np.asarray(layer(eye, training=True)) - bias
        kept = np.isclose(masked, kernel / (1 - RATE), rtol=1e-5, atol=1e-7)
        assert np.all(kept | (masked == 0))
        dropped += np.sum(~kept)
    n = draws * kernel.size
    assert abs(dropped / n - RATE) <= 4 * np.sqrt(RATE * (1 - RATE) / n)


@pytest.mark.reference("layers.DropConnectDense", "layers.DropConnectConv2D")
def test_mean_of_training_outputs_matches_inference_within_4_sigma(repeated_call):
    layer, draws = _dense(), 400
    x = np.random.default_rng(0).normal(size=(1, 16)).astype("float32")
    call = repeated_call(lambda v: layer(v, training=True))  # one mask per call: draws are calls
    mean = np.mean([np.asarray(call(x))[0] for _ in range(draws)], axis=0)
    inference = np.asarray(layer(x))[0]
    # Var(y_j) = sum_i x_i^2 W_ij^2 rate / (1 - rate) for one draw; the mean of `draws` draws
    # has that variance / draws.
    kernel = np.asarray(layer.kernel)
    sigma = np.sqrt((x[0, :, None] ** 2 * kernel**2).sum(axis=0) * RATE / (1 - RATE) / draws)
    assert np.all(np.abs(mean - inference) <= 4 * sigma)


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_inference_equals_plain_layer_exactly_and_is_deterministic(kind):
    rng = np.random.default_rng(1)
    if kind == "dense":
        ours, plain, x = (
            DropConnectDense(8, rate=0.5, activation="relu"),
            keras.layers.Dense(8, activation="relu"),
            rng.normal(size=(5, 6)),
        )
    else:
        ours = DropConnectConv2D(4, 3, rate=0.5, padding="same", activation="relu")
        plain, x = (
            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
            rng.normal(size=(2, 7, 7, 3)),
        )
    x = x.astype("float32")
    ours(x), plain(x)
    plain.set_weights(ours.get_weights())
    first = np.asarray(ours(x, training=False))
    np.testing.assert_array_equal(first, np.asarray(plain(x)))
    np.testing.assert_array_equal(first, np.asarray(ours(x)))
    assert not np.array_equal(first, np.asarray(ours(x, training=True)))


def test_dense_gradient_reaches_only_kept_weights(kernel_gradient):
    layer = _dense()
    rng = np.random.default_rng(2)
    x = rng.uniform(0.5, 1.5, size=(8, 16)).astype("float32")
    c = rng.normal(size=(32,)).astype("float32")
    y, grad = kernel_gradient(layer, x, c)
    kept = grad != 0
    # Closed form: dL/dW_ij = (sum_b x_bi) c_j / (1 - rate) for kept weights, 0 for dropped.
    full = np.outer(x.sum(axis=0), c) / (1 - RATE)
    np.testing.assert_allclose(grad[kept], full[kept], rtol=1e-5)
    # The weights that received gradient are exactly the ones the forward pass used.
    kernel, bias = np.asarray(layer.kernel), np.asarray(layer.bias)
    np.testing.assert_allclose(
        np.asarray(y), x @ (kernel * kept) / (1 - RATE) + bias, rtol=1e-5, atol=1e-5
    )
    assert abs((~kept).mean() - RATE) <= 4 * np.sqrt(RATE * (1 - RATE) / kept.size)


@pytest.mark.reference("layers.DropConnectConv2D")
def test_conv_gradient_reaches_only_kept_weights(kernel_gradient):
    layer = DropConnectConv2D(3, 3, rate=0.5, seed=5, use_bias=False)
    x = np.random.default_rng(3).uniform(0.5, 1.5, size=(2, 6, 6, 2)).astype("float32")
    layer.build(x.shape)
    y, grad = kernel_gradient(layer, x, np.ones((2, 4, 4, 3), "float32"))
    kept = grad != 0  # positive inputs: a kept weight always gets a positive gradient
    # NumPy "VALID" convolution (cross-correlation) with the kept, rescaled kernel
    patches = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))  # b, i, j, c, p, q
    expected = np.einsum("bijcpq,pqcf->bijf", patches, np.asarray(layer.kernel) * kept / 0.5)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert 0 < kept.sum() < kept.size
