"""gain() against closed forms and SciPy quadrature; presets' empirical variance vs. target."""

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from kerasopt import initializers

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


def _gain_by_quad(phi):
    """1 / sqrt(E[phi(z)^2]), z ~ N(0, 1), by SciPy's adaptive quadrature."""
    second_moment, _ = integrate.quad(lambda z: phi(z) ** 2 * stats.norm.pdf(z), -np.inf, np.inf)
    return 1.0 / math.sqrt(second_moment)


def _selu(z):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return scale * (z if z > 0 else alpha * (math.exp(z) - 1.0))


@pytest.mark.parametrize(
    "activation, param, phi",
    [
        ("linear", None, lambda z: z),
        ("relu", None, lambda z: max(z, 0.0)),
        ("leaky_relu", 0.2, lambda z: z if z > 0 else 0.2 * z),
        ("leaky_relu", None, lambda z: z if z > 0 else 0.01 * z),
        ("selu", None, _selu),
        ("tanh", None, math.tanh),
        ("sigmoid", None, lambda z: float(special.expit(z))),
    ],
)
@pytest.mark.reference("initializers.gain")
def test_gain_matches_quadrature(activation, param, phi):
    assert initializers.gain(activation, param) == pytest.approx(_gain_by_quad(phi), rel=1e-6)


@pytest.mark.reference("initializers.gain")
def test_gain_closed_forms():
    assert initializers.gain("relu") == pytest.approx(math.sqrt(2.0))
    assert initializers.gain("leaky_relu", 0.5) == pytest.approx(math.sqrt(2.0 / 1.25))
    assert initializers.gain("linear") == 1.0


def _var_tanh_gain():
    return _gain_by_quad(math.tanh) ** 2


# (factory, kwargs, shape, target variance computed from fan-in/fan-out and the gain formula)
PRESETS = [
    (initializers.he, {}, (500, 400), 2.0 / 500),
    (initializers.he, {"distribution": "uniform"}, (3, 3, 64, 192), 2.0 / (3 * 3 * 64)),
    (
        initializers.he,
        {"activation": "leaky_relu", "param": 0.3},
        (400, 300),
        2.0 / (1 + 0.09) / 400,
    ),
    (initializers.glorot, {}, (500, 300), 2.0 / (500 + 300)),
    (
        initializers.glorot,
        {"activation": "tanh", "distribution": "untruncated_normal"},
        (400, 600),
        _var_tanh_gain() * 2.0 / 1000,
    ),
    (
        initializers.glorot,
        {"activation": "relu", "distribution": "truncated_normal"},
        (3, 3, 96, 128),
        2.0 * 2.0 / (9 * 96 + 9 * 128),
    ),
    (initializers.lecun, {}, (300, 500), 1.0 / 300),
    (
        initializers.lecun,
        {"activation": "tanh", "distribution": "uniform"},
        (400, 300),
        _var_tanh_gain() / 400,
    ),
]


@pytest.mark.parametrize("factory, kwargs, shape, target", PRESETS)
@pytest.mark.reference("initializers.glorot", "initializers.he", "initializers.lecun")
def test_preset_variance_within_sampling_error(factory, kwargs, shape, target):
    values = np.asarray(factory(seed=7, **kwargs)(shape), dtype="float64")
    assert values.size >= 100_000
    assert abs(values.mean()) < 5 * math.sqrt(target / values.size)
    # The sample variance of N draws has relative standard error sqrt((kurtosis - 1) / N):
    # sqrt(2 / N) for a normal (kurtosis 3), less for the truncated normal (about 2.4) and the
    # uniform (1.8). Four of those (0.4% at N = 110,592, so at most 1.7%) fail a wrong gain or
    # fan and pass a right one except with probability 6e-5.
    assert values.var() == pytest.approx(target, rel=4 * math.sqrt(2 / values.size))


@pytest.mark.reference("initializers.orthogonal")
def test_orthogonal_preset_has_gain():
    gain = _gain_by_quad(math.tanh)
    w = np.asarray(initializers.orthogonal("tanh", seed=3)((64, 64)), dtype="float64")
    np.testing.assert_allclose(w.T @ w, gain**2 * np.eye(64), atol=1e-5)


def test_seed_semantics_follow_keras():
    import keras

    a = initializers.he(seed=5)((50, 50))
    b = initializers.he(seed=5)((50, 50))
    np.testing.assert_array_equal(a, b)
    init = initializers.he(seed=keras.random.SeedGenerator(5))
    assert not np.array_equal(init((50, 50)), init((50, 50)))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: initializers.gain("swish"), "activation='swish'"),
        (lambda: initializers.gain("relu", 0.1), "param=0.1"),
        (lambda: initializers.gain("leaky_relu", 1.5), "param=1.5"),
        (lambda: initializers.he(distribution="cauchy"), "distribution='cauchy'"),
        (lambda: initializers.glorot("softmax"), "activation='softmax'"),
    ],
)
def test_invalid_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
