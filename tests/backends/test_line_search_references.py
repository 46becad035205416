"""`kerasopt.second_order.strong_wolfe` on every backend (CI's JAX pass included): accepted
steps satisfy the strong Wolfe conditions, checked with SciPy's independent Rosenbrock code,
in float64. (Beside the matrix it feeds, as tests/second_order has another owner this session;
tests/second_order/test_line_search.py holds the TensorFlow-graph cases.)"""

import numpy as np
import pytest
import scipy.optimize
from keras import ops

from kerasopt.second_order import line_search, strong_wolfe
from kerasopt.second_order._ops import precision

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


def _rosenbrock(x):
    """Value and closed-form gradient in keras.ops (no autodiff: any backend traces it)."""
    step, rest = x[1:] - x[:-1] ** 2, 1.0 - x[:-1]
    f = ops.sum(100.0 * step**2 + rest**2)
    zero = ops.zeros((1,), x.dtype)
    g = ops.concatenate([-400.0 * x[:-1] * step - 2.0 * rest, zero])
    return f, g + ops.concatenate([zero, 200.0 * step])


@pytest.mark.reference("second_order.strong_wolfe")
def test_accepted_steps_satisfy_strong_wolfe():
    c1, c2 = 0.3, 0.4  # a tight curvature test (tests/second_order adds (1e-4, 0.9), (1e-4, 0.1))
    rng = np.random.default_rng(0)
    with precision("float64"):
        for x in (np.array([-1.2, 1.0]), np.linspace(-2.0, 2.0, 6)):
            g = scipy.optimize.rosen_der(x)
            noise = 0.5 * np.linalg.norm(g) * rng.normal(size=x.size) / np.sqrt(x.size)
            for d in (-g, -g + noise):
                for alpha0 in (1e-2, 50.0):  # short and very long first trials
                    slope = g @ d
                    assert slope < 0
                    xt, dt = (
                        ops.convert_to_tensor(x, "float64"),
                        ops.convert_to_tensor(d, "float64"),
                    )
                    f0, g0 = _rosenbrock(xt)
                    np.testing.assert_allclose(ops.convert_to_numpy(g0), g, rtol=1e-12)
                    out = strong_wolfe(_rosenbrock, xt, f0, g0, dt, alpha0, c1, c2)
                    out = {k: ops.convert_to_numpy(v) for k, v in out.items()}
                    assert out["status"] == line_search.WOLFE, (x, d, alpha0)
                    alpha = float(out["alpha"])
                    point = x + alpha * d
                    assert alpha > 0
                    assert (
                        scipy.optimize.rosen(point) <= scipy.optimize.rosen(x) + c1 * alpha * slope
                    )
                    assert abs(scipy.optimize.rosen_der(point) @ d) <= c2 * abs(slope)
                    np.testing.assert_allclose(out["f"], scipy.optimize.rosen(point), rtol=1e-12)
