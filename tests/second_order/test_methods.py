"""Closed-form behaviour of the methods: CG with exact line search ends in <= n iterations,
Newton solves a quadratic in one step, Newton is drawn to a saddle that saddle-free Newton
escapes; parameter limits, non-finite stops, argument errors, configs."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasopt.second_order import (
    BFGS,
    LBFGS,
    ConjugateGradient,
    Newton,
    SaddleFreeNewton,
    _core,
    minimize,
)

CLASSES = [LBFGS, BFGS, ConjugateGradient, Newton, SaddleFreeNewton]

pytestmark = pytest.mark.portable


def _quadratic_matrix(n, condition, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = q @ np.diag(np.logspace(0, np.log10(condition), n)) @ q.T
    return 0.5 * (a + a.T)


def _quadratic(n, condition=1e4, seed=0):
    """(x - c)^T A (x - c) / 2 with A's eigenvalues log-spaced in [1, condition]; minimizer c."""
    a = _quadratic_matrix(n, condition, seed)
    c = np.random.default_rng(seed + 1).normal(size=n)

    def fn(x):
        return 0.5 * ops.sum((x - c) * ops.matmul(a, x - c))

    return fn, c


def _linear_cg_iterates(a, c, iterations):
    """Textbook linear CG on A x = A c from 0 (Nocedal & Wright Algorithm 5.2), in NumPy."""
    x = np.zeros(len(c))
    r = a @ (x - c)
    d = -r
    out = []
    for _ in range(iterations):
        alpha = (r @ r) / (d @ a @ d)
        x = x + alpha * d
        r_new = a @ (x - c)
        d = -r_new + (r_new @ r_new) / (r @ r) * d
        r = r_new
        out.append(x)
    return out


@pytest.mark.parametrize("beta", ["polak_ribiere", "fletcher_reeves"])
@pytest.mark.reference("second_order.ConjugateGradient")
def test_cg_with_exact_line_search_solves_quadratic_in_n_iterations(beta):
    """With an exact line search (c2 = 1e-10) nonlinear CG is linear CG: it ends in <= n
    iterations and its iterates are linear CG's. Condition number 10: in float64, linear CG
    itself loses orthogonality on wider spectra and needs more than n iterations (NumPy's
    linear CG needs 11 for n = 10 at condition 100, 13 at 1e3, to reach gradient 1e-8)."""
    n = 20
    fn, x_star = _quadratic(n, condition=10.0)
    iterates = []
    method = ConjugateGradient(
        beta=beta, c1=1e-12, c2=1e-10, gtol=1e-8, ftol=0.0, max_line_search_evaluations=50
    )
    result = minimize(fn, np.zeros(n), method=method, callback=lambda i, x, f: iterates.append(x))
    assert result.converged, result.message
    assert result.iterations <= n
    assert np.linalg.norm(result.x - x_star) / np.linalg.norm(x_star) <= 1e-8
    hessian = _quadratic_matrix(n, 10.0)
    for ours, reference in zip(
        iterates[: n // 2], _linear_cg_iterates(hessian, x_star, n // 2), strict=True
    ):
        np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("adaptive,steps_per_execution", [(True, 1), (False, 1), (True, 10)])
@pytest.mark.reference("second_order.Newton")
def test_newton_solves_a_quadratic_in_one_step(adaptive, steps_per_execution):
    """With 10 iterations per compiled call, the in-graph gradient test stops after the first."""
    n = 12
    fn, x_star = _quadratic(n)
    result = minimize(
        fn,
        np.zeros(n),
        method=Newton(damping=0.0, adaptive_damping=adaptive, gtol=1e-8),
        steps_per_execution=steps_per_execution,
    )
    assert result.iterations == 1, result.message
    assert result.converged and "gtol" in result.message
    np.testing.assert_allclose(result.x, x_star, rtol=1e-9)


def _saddle(z):
    """x^2 - y^2 + y^4 / 2: a saddle at the origin, minima at (0, +-1) with value -1/2."""
    return z[0] ** 2 - z[1] ** 2 + 0.5 * z[1] ** 4


@pytest.mark.reference("second_order.SaddleFreeNewton")
def test_newton_is_drawn_to_the_saddle_and_saddle_free_newton_escapes():
    start = np.array([1.0, 0.01])
    newton = minimize(_saddle, start, method="newton", gtol=1e-10)
    assert newton.converged and np.linalg.norm(newton.x) < 1e-6  # stuck on the saddle point
    sfn = minimize(_saddle, start, method="saddle_free_newton", gtol=1e-10)
    assert sfn.converged
    np.testing.assert_allclose(np.abs(sfn.x), [0.0, 1.0], atol=1e-8)
    assert abs(sfn.fun + 0.5) < 1e-12


@pytest.mark.parametrize(
    "method,options", [("newton", {}), ("bfgs", {}), ("saddle_free_newton", {})]
)
def test_parameter_limit_names_argument_value_and_alternatives(method, options):
    with pytest.raises(ValueError) as info:
        minimize(lambda x: ops.sum(x * x), np.ones(30), method=method, max_parameters=20, **options)
    message = str(info.value)
    assert "max_parameters" in message and "=20" in message and "30 parameters" in message
    assert 'solver="cg"' in message and "LBFGS" in message


def test_newton_cg_has_no_parameter_limit():
    result = minimize(
        lambda x: ops.sum((x - 1.0) ** 2),
        np.zeros(30),
        method="newton",
        solver="cg",
        max_parameters=20,
    )
    np.testing.assert_allclose(result.x, 1.0, atol=1e-6)


def test_non_finite_start_stops_with_message():
    result = minimize(lambda x: ops.sum(ops.log(x)), -np.ones(3), method="lbfgs")
    assert not result.converged and "non-finite" in result.message
    np.testing.assert_array_equal(result.x, -np.ones(3))


def test_non_finite_neighbourhood_keeps_last_finite_weights():
    x0 = np.array([0.5, -0.25])

    def fn(x):  # finite only at x0 itself
        value = ops.sum(x * x)
        return ops.where(ops.all(ops.equal(x, x0)), value, np.nan)

    result = minimize(fn, x0, method="lbfgs")
    assert not result.converged and "non-finite" in result.message
    np.testing.assert_array_equal(result.x, x0)
    assert result.fun == pytest.approx(0.3125)


@pytest.mark.parametrize(
    "make,name,value",
    [
        (lambda: LBFGS(history=0), "history", "0"),
        (lambda: ConjugateGradient(beta="hestenes"), "beta", "'hestenes'"),
        (lambda: ConjugateGradient(restart=0), "restart", "0"),
        (lambda: Newton(solver="qr"), "solver", "'qr'"),
        (lambda: Newton(damping=-1.0), "damping", "-1.0"),
        (lambda: SaddleFreeNewton(damping=0.0), "damping", "0.0"),
        (lambda: BFGS(c1=0.5, c2=0.4), "c2", "0.4"),
        (lambda: LBFGS(gtol=-1.0), "gtol", "-1.0"),
        (lambda: minimize(lambda x: x[0], [1.0], method="sgd"), "method", "'sgd'"),
        (lambda: minimize(lambda x: x[0], [1.0], max_iterations=0), "max_iterations", "0"),
        (
            lambda: minimize(lambda x: x[0], [1.0], steps_per_execution=0),
            "steps_per_execution",
            "0",
        ),
        (lambda: minimize(lambda x: x[0], [1.0], jit_compile="yes"), "jit_compile", "'yes'"),
    ],
)
def test_bad_arguments_name_argument_and_value(make, name, value):
    with pytest.raises((ValueError, TypeError)) as info:
        make()
    assert f"`{name}`" in str(info.value) and f"{name}={value}" in str(info.value)


def test_other_backends_get_a_clear_error(monkeypatch):
    # TensorFlow and JAX run these methods; PyTorch and NumPy are refused by name.
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(RuntimeError, match="TensorFlow backend.*KERAS_BACKEND"):
        LBFGS()
    with pytest.raises(RuntimeError, match="KERAS_BACKEND"):
        _core.require_backend("kerasopt.second_order.fit")


@pytest.mark.parametrize("cls", CLASSES)
def test_config_round_trip(cls):
    optimizer = cls(gtol=1e-7)
    config = optimizer.get_config()
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is cls
    assert restored.get_config() == config
    assert config["gtol"] == 1e-7
