"""L-BFGS's Moré-Thuente line search against SciPy's own translation of MINPACK-2's `dcsrch`
(`scipy.optimize._dcsrch.DCSRCH`, what SciPy's line_search_wolfe1, BFGS and CG call): the same
accepted step and the same number of evaluations on Rosenbrock lines, from short to very long
first trials; and L-BFGS's first iterates equal SciPy's L-BFGS-B's (float64, its ftol=1e-3).
Both backends (the objectives are `keras.ops`)."""

import functools

import numpy as np
import pytest
import scipy.optimize
from keras import ops
from scipy.optimize._dcsrch import DCSRCH

from kerasopt.second_order import _ops, line_search, minimize, more_thuente

pytestmark = pytest.mark.portable


def _rosen(x):
    return ops.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _value_and_gradient(x):
    return _ops.value_and_gradient(lambda z, batch: _rosen(z), x, None)


@functools.lru_cache(maxsize=None)
def _compiled():
    def run(x, d, alpha0, c1, c2):
        f0, g0 = _value_and_gradient(x)
        return more_thuente.search(_value_and_gradient, x, f0, g0, d, alpha0, c1, c2, 20)

    return _ops.compile(run, jit_compile=False)


def _ours(x, d, alpha0, c1, c2):
    with _ops.precision("float64"):
        args = [ops.convert_to_tensor(np.asarray(v, np.float64)) for v in (x, d, alpha0, c1, c2)]
        out = _compiled()(*args)
        return {k: ops.convert_to_numpy(v) for k, v in out._asdict().items()}


def _scipy(x, d, alpha0, c1, c2):
    calls = []

    def phi(a):
        calls.append(a)
        return scipy.optimize.rosen(x + a * d)

    def dphi(a):
        return scipy.optimize.rosen_der(x + a * d) @ d

    search = DCSRCH(phi, dphi, c1, c2, more_thuente.XTOL, 0.0, more_thuente.STEP_MAX)
    step, _, _, task = search(alpha0, scipy.optimize.rosen(x), dphi(0.0), maxiter=20)
    return step, len(calls), task


def _cases():
    rng = np.random.default_rng(0)
    for x in (np.array([-1.2, 1.0]), np.array([2.0, -1.0]), np.linspace(-2.0, 2.0, 10)):
        g = scipy.optimize.rosen_der(x)
        for d in (-g, -g + 0.5 * np.linalg.norm(g) * rng.normal(size=x.size) / np.sqrt(x.size)):
            for alpha0 in (1e-6, 1e-2, 1.0 / np.linalg.norm(g), 1.0, 50.0):
                yield x, d, alpha0


@pytest.mark.parametrize("c1,c2", [(1e-3, 0.9), (1e-4, 0.1)])
def test_same_step_and_evaluations_as_scipy_dcsrch(c1, c2):
    for x, d, alpha0 in _cases():
        step, evaluations, task = _scipy(x, d, alpha0, c1, c2)
        assert task == b"CONVERGENCE", (x, alpha0, task)
        out = _ours(x, d, alpha0, c1, c2)
        assert int(out["status"]) == line_search.WOLFE
        np.testing.assert_allclose(out["alpha"], step, rtol=1e-10, err_msg=str((x, alpha0)))
        assert int(out["evaluations"]) == evaluations, (x, alpha0, out["evaluations"], evaluations)
        np.testing.assert_allclose(out["f"], scipy.optimize.rosen(x + step * d), rtol=1e-12)


def test_non_finite_trials_back_off_to_a_wolfe_point():
    """A loss that overflows beyond a step (here: +inf past 0.5 on a quadratic whose line
    minimum is at 0.4) brackets there and bisects, as the zoom search does."""

    def fg(z):
        f, g = _ops.value_and_gradient(lambda w, batch: ops.sum((w - 0.4) ** 2), z, None)
        inf = ops.cast(np.inf, z.dtype)
        return ops.where(z[0] > 0.5, inf, f), g

    with _ops.precision("float64"):
        x = ops.convert_to_tensor(np.zeros(1))
        f0, g0 = fg(x)
        d = ops.convert_to_tensor(np.ones(1))
        out = _ops.compile(
            lambda: more_thuente.search(fg, x, f0, g0, d, ops.convert_to_tensor(8.0, "float64")),
            jit_compile=False,
        )()
    alpha = float(out.alpha)
    assert int(out.status) == line_search.WOLFE
    assert 0.0 < alpha <= 0.5 and abs(2 * (alpha - 0.4)) <= 0.9 * 0.8


def test_lbfgs_iterates_are_scipy_lbfgsb_iterates():
    """L-BFGS (memory 10) with L-BFGS-B's sufficient-decrease constant ftol=1e-3 takes
    SciPy's L-BFGS-B steps on 10-D Rosenbrock: its first 25 iterates and the evaluations
    they cost are SciPy's (float64; measured agreement 4e-13, the paths part only by rounding)."""
    x0 = np.tile([-1.2, 1.0], 5)
    theirs, evaluations = [], []
    calls = []

    def f(x):
        calls.append(1)
        return scipy.optimize.rosen(x), scipy.optimize.rosen_der(x)

    def record(x):
        theirs.append(np.copy(x))
        evaluations.append(len(calls))

    scipy.optimize.minimize(
        f, x0, jac=True, method="L-BFGS-B", callback=record, options={"maxiter": 25, "maxcor": 10}
    )
    ours, counts = [], []

    def callback(iteration, x, loss):
        ours.append(np.copy(x))

    result = minimize(_rosen, x0, method="lbfgs", c1=1e-3, max_iterations=25, callback=callback)
    counts = result.evaluations
    assert len(ours) == len(theirs) == 25
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-9, atol=1e-12)
    assert counts == evaluations[-1]


def _search_once(fg, x, g0, d, alpha0, max_evaluations):
    with _ops.precision("float64"):
        x = ops.convert_to_tensor(np.asarray(x, np.float64))
        f0, g = fg(x) if g0 is None else (ops.convert_to_tensor(0.0, "float64"), g0)
        d = ops.convert_to_tensor(np.asarray(d, np.float64)) if d is not None else -g
        out = _ops.compile(
            lambda: more_thuente.search(
                fg,
                x,
                f0,
                g,
                d,
                ops.convert_to_tensor(alpha0, "float64"),
                1e-4,
                0.9,
                max_evaluations,
            ),
            jit_compile=False,
        )()
        return {k: ops.convert_to_numpy(v) for k, v in out._asdict().items()}


def test_fallback_backtracks_to_an_armijo_point_when_the_budget_is_spent():
    """One trial point, too long: the search gives up without a Wolfe point or a better step,
    and the fallback halves the smallest step tried until sufficient decrease (N&W Alg. 3.1)."""
    x = np.array([-1.2, 1.0])
    g = scipy.optimize.rosen_der(x)

    def armijo(alpha):
        return scipy.optimize.rosen(x - alpha * g) <= scipy.optimize.rosen(x) - 1e-4 * alpha * g @ g

    alpha0 = next(2.0**-k for k in range(40) if not armijo(2.0**-k) and armijo(2.0 ** -(k + 1)))
    out = _search_once(_value_and_gradient, x, None, None, alpha0, max_evaluations=1)
    assert int(out["status"]) == line_search.ARMIJO
    assert out["alpha"] == alpha0 / 2
    assert int(out["evaluations"]) == 2
    np.testing.assert_allclose(out["f"], scipy.optimize.rosen(x - alpha0 / 2 * g), rtol=1e-12)


def test_failure_keeps_the_point_when_every_trial_is_non_finite():
    def nan_everywhere(z):
        nan = ops.cast(np.nan, z.dtype)
        return nan, ops.zeros_like(z) + nan

    with _ops.precision("float64"):
        g0 = ops.convert_to_tensor(np.ones(2))
    out = _search_once(nan_everywhere, [1.0, 2.0], g0, None, 1.0, max_evaluations=5)
    assert int(out["status"]) == line_search.FAILED
    assert float(out["alpha"]) == 0.0 and float(out["f"]) == 0.0
    np.testing.assert_array_equal(out["x"], [1.0, 2.0])
    assert int(out["evaluations"]) == 10  # 5 trials of the search, then 5 of backtracking
