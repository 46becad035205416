"""The cheap default-run variant of the slow 100-D Rosenbrock comparison with SciPy
(`test_minimize_vs_scipy.py::test_matches_scipy_rosenbrock_100d`, `-m slow`): L-BFGS, its
whole run in one compiled graph call, against the closed-form minimizer (all ones) and SciPy's
L-BFGS-B iteration count, with the slow test's bounds (within 1e-6, at most 1.5x the
iterations, converged on the gradient)."""

import numpy as np
import scipy.optimize

from kerasopt.second_order import minimize
from tests.second_order.test_minimize_vs_scipy import GTOL, _rosenbrock


def test_lbfgs_matches_scipy_on_rosenbrock_100d_in_one_graph_call():
    fn, (f, g, _), x0 = _rosenbrock(100)
    reference = scipy.optimize.minimize(
        f, x0, jac=g, method="L-BFGS-B", options={"gtol": GTOL, "ftol": 0.0, "maxiter": 20000}
    )
    ours = minimize(
        fn,
        x0,
        method="lbfgs",
        max_iterations=20000,
        gtol=GTOL,
        ftol=0.0,
        steps_per_execution=20000,
        jit_compile=False,
    )
    ones = np.ones_like(x0)
    assert np.linalg.norm(ours.x - ones) / np.linalg.norm(ones) <= 1e-6, ours.message
    assert ours.iterations <= 1.5 * reference.nit, (ours.iterations, reference.nit)
    assert ours.converged and ours.gradient_norm <= GTOL, ours.message
