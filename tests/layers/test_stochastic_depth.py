"""StochasticDepth: per-example branch drops, unbiasedness, inference, linear decay rule."""

import numpy as np
import pytest

from kerasopt.layers import StochasticDepth, linear_decay_survival_probabilities

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too

P = 0.7


@pytest.mark.reference("layers.StochasticDepth")
def test_dropped_branch_fraction_within_4_sigma_and_per_example():
    layer, n = StochasticDepth(P, seed=1), 4000
    shortcut, branch = np.zeros((n, 3, 3, 2), "float32"), np.ones((n, 3, 3, 2), "float32")
    out = np.asarray(layer([shortcut, branch], training=True)).reshape(n, -1)
    # Each example's whole branch is either dropped (0) or kept and scaled by 1/p.
    assert np.all((out == 0).all(axis=1) | np.isclose(out, 1 / P).all(axis=1))
    dropped = (out[:, 0] == 0).mean()
    assert abs(dropped - (1 - P)) <= 4 * np.sqrt(P * (1 - P) / n)


@pytest.mark.reference("layers.StochasticDepth")
def test_mean_of_training_outputs_matches_inference_within_4_sigma():
    layer, draws = StochasticDepth(P, seed=2), 500
    rng = np.random.default_rng(0)
    x, f = rng.normal(size=(4, 5)).astype("float32"), rng.normal(size=(4, 5)).astype("float32")
    # one call on `draws` stacked copies: every example draws its own mask
    stacked = np.asarray(layer([np.tile(x, (draws, 1)), np.tile(f, (draws, 1))], training=True))
    mean = stacked.reshape(draws, 4, 5).mean(axis=0)
    # One draw: x + f m / p, Var = f^2 (1 - p) / p.
    sigma = np.sqrt(f**2 * (1 - P) / P / draws)
    inference = np.asarray(layer([x, f]))
    np.testing.assert_array_equal(inference, x + f)
    assert np.all(np.abs(mean - inference) <= 4 * sigma + 1e-6)


def test_inference_deterministic():
    layer = StochasticDepth(0.5)
    x = np.random.default_rng(1).normal(size=(3, 4)).astype("float32")
    np.testing.assert_array_equal(
        np.asarray(layer([x, x])), np.asarray(layer([x, x], training=False))
    )


@pytest.mark.reference("layers.linear_decay_survival_probabilities")
def test_linear_decay_rule():
    # Huang et al. 2016 eq. 4 with L = 4, p_L = 0.5: 1 - l/4 * 0.5.
    np.testing.assert_allclose(
        linear_decay_survival_probabilities(4, 0.5), [0.875, 0.75, 0.625, 0.5]
    )
    assert linear_decay_survival_probabilities(1, 0.8) == [0.8]
