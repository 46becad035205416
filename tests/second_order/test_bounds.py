"""Box bounds against SciPy's L-BFGS-B: on four bounded problems (three with bounds active at
the solution, one with none) the minimizer is within 1e-6 of SciPy's and the active sets are
equal. SciPy's side uses its own NumPy objectives and gradients; float64 throughout."""

import keras
import numpy as np
import pytest
import scipy.optimize
from keras import ops
from sklearn.datasets import load_breast_cancer

from kerasopt.second_order import LBFGS, fit, minimize

pytestmark = pytest.mark.portable


def _quadratic():
    """(x - c)^T A (x - c) / 2, condition 1e3, c outside the box [-1, 1]^20 in most coordinates."""
    rng = np.random.default_rng(0)
    n = 20
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = q @ np.diag(np.logspace(0, 3, n)) @ q.T
    a = 0.5 * (a + a.T)
    c = 2.0 * rng.normal(size=n)

    def fn(x):
        return 0.5 * ops.sum((x - c) * ops.matmul(a, x - c))

    numpy = (lambda x: 0.5 * (x - c) @ a @ (x - c), lambda x: a @ (x - c))
    return fn, numpy, np.zeros(n), (-np.ones(n), np.ones(n))


def _rosenbrock(n, upper):
    def fn(x):
        return ops.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    return (
        fn,
        (scipy.optimize.rosen, scipy.optimize.rosen_der),
        np.tile([-1.2, 1.0], n // 2),
        (-2.0, upper),
    )


def _nonnegative_logistic(l2=1e-2):
    """L2-regularized logistic regression on breast cancer with weights >= 0."""
    data = load_breast_cancer()
    x = (data.data - data.data.mean(0)) / data.data.std(0)
    y = data.target.astype(np.float64)

    def fn(w):
        z = ops.matmul(x, w)
        # ops.sum / n, not ops.mean: Keras-on-JAX computes a float64 mean in float32
        return ops.sum(ops.softplus(z) - y * z) / len(y) + 0.5 * l2 * ops.sum(w * w)

    def f(w):
        z = x @ w
        return np.mean(np.logaddexp(0, z) - y * z) + 0.5 * l2 * w @ w

    def g(w):
        return x.T @ (1 / (1 + np.exp(-(x @ w))) - y) / len(y) + l2 * w

    return fn, (f, g), np.full(x.shape[1], 0.5), (0.0, None)


PROBLEMS = {
    "quadratic": _quadratic,
    "rosenbrock10_upper_0.8": lambda: _rosenbrock(10, 0.8),
    "nonnegative_logistic": _nonnegative_logistic,
    "rosenbrock2_loose": lambda: _rosenbrock(2, 2.0),
}


def _active(x, lower, upper, tol=1e-8):
    return tuple(np.flatnonzero((np.abs(x - lower) <= tol) | (np.abs(x - upper) <= tol)))


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.reference("second_order.minimize", "second_order.LBFGS")
def test_bounded_minimize_matches_scipy_lbfgsb(problem):
    fn, (f, g), x0, (low, high) = PROBLEMS[problem]()
    n = len(x0)
    lower = np.broadcast_to(-np.inf if low is None else low, n).astype(float)
    upper = np.broadcast_to(np.inf if high is None else high, n).astype(float)
    reference = scipy.optimize.minimize(
        f,
        x0,
        jac=g,
        method="L-BFGS-B",
        bounds=list(zip(lower, upper, strict=True)),
        options={"gtol": 1e-11, "ftol": 0.0, "maxiter": 20000},
    )
    ours = minimize(fn, x0, bounds=(low, high), gtol=1e-11, ftol=0.0, max_iterations=20000)
    assert np.all(ours.x >= lower) and np.all(ours.x <= upper)
    np.testing.assert_allclose(ours.x, reference.x, rtol=0, atol=1e-6)
    active = _active(ours.x, lower, upper)
    assert active == _active(reference.x, lower, upper), (
        active,
        _active(reference.x, lower, upper),
    )
    if problem != "rosenbrock2_loose":
        assert len(active) > 0  # the bounds matter at the solution
    else:
        assert active == ()


def test_scipy_style_pairs_and_projection_of_an_infeasible_start():
    fn, _, _, _ = _quadratic()
    pairs = [(-1.0, 1.0)] * 20
    a = minimize(fn, np.full(20, 5.0), bounds=pairs, gtol=1e-9, ftol=0.0)
    b = minimize(fn, np.zeros(20), bounds=(-1.0, 1.0), gtol=1e-9, ftol=0.0)
    np.testing.assert_allclose(a.x, b.x, atol=1e-6)
    assert np.all(np.abs(a.x) <= 1.0)


def test_lbfgs_bounds_confine_a_keras_model_and_survive_get_config():
    x = np.linspace(-1, 1, 64, dtype="float32")[:, None]
    y = 3.0 * x - 2.0
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    optimizer = LBFGS(bounds=(-1.0, 1.5))
    model.compile(optimizer=optimizer, loss="mse")
    fit(model, x, y, max_iterations=100, verbose=0)
    kernel, bias = (float(w.ravel()[0]) for w in model.get_weights())
    # Separable on this symmetric grid: each parameter goes to its own clipped optimum.
    assert kernel == pytest.approx(1.5, abs=1e-6) and bias == pytest.approx(-1.0, abs=1e-6)
    assert LBFGS.from_config(optimizer.get_config()).bounds == (-1.0, 1.5)


@pytest.mark.parametrize(
    "bounds,message",
    [
        ((1.0, 0.0), r"lower <= upper.*bounds=\(1.0, 0.0\)"),
        ((0.0,), r"Argument `bounds` must be None or a \(lower, upper\) pair.*bounds=\(0.0,\)"),
        (("a", 1.0), r"bounds=\('a', 1.0\)"),
    ],
)
def test_lbfgs_refuses_bad_bounds(bounds, message):
    with pytest.raises(ValueError, match=message):
        LBFGS(bounds=bounds)


def test_minimize_refuses_bad_bounds():
    fn = lambda x: ops.sum(x * x)  # noqa: E731
    with pytest.raises(ValueError, match=r"`bounds` needs method='lbfgs'.*BFGS"):
        minimize(fn, np.zeros(3), method="bfgs", bounds=(0.0, 1.0))
    with pytest.raises(ValueError, match=r"1 or 3 values per side.*2 values"):
        minimize(fn, np.zeros(3), bounds=([0.0, 0.0], 1.0))
    with pytest.raises(ValueError, match="lower <= upper"):
        minimize(fn, np.zeros(3), bounds=(1.0, [0.0, 2.0, 2.0]))
