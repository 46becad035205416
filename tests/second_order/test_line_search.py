"""The shared line search: accepted steps satisfy the strong Wolfe conditions, checked with
SciPy's independent Rosenbrock code; the documented Armijo fallback and failure modes."""

import functools

import numpy as np
import pytest
import scipy.optimize
import tensorflow as tf

from kerasopt.second_order import line_search


def _rosen_tf(x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        f = tf.reduce_sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    return f, tape.gradient(f, x)


@functools.lru_cache(maxsize=None)
def _compiled(c1, c2, max_evaluations):
    spec = tf.TensorSpec([None], tf.float64)

    @tf.function(input_signature=[spec, spec, tf.TensorSpec([], tf.float64)])
    def run(x, d, alpha0):
        f0, g0 = _rosen_tf(x)
        return line_search.strong_wolfe(_rosen_tf, x, f0, g0, d, alpha0, c1, c2, max_evaluations)

    return run


def _search(x, d, alpha0, c1, c2, max_evaluations=20):
    out = _compiled(c1, c2, max_evaluations)(
        tf.constant(x), tf.constant(d), tf.constant(alpha0, tf.float64)
    )
    return {k: v.numpy() for k, v in out.items()}


POINTS = [
    np.array([-1.2, 1.0]),
    np.array([0.0, 0.0]),
    np.array([2.0, -1.0]),
    np.tile([-1.2, 1.0], 5),
    np.linspace(-2.0, 2.0, 10),
]


def _cases():
    rng = np.random.default_rng(0)
    for x in POINTS:
        g = scipy.optimize.rosen_der(x)
        # Steepest descent and a random descent direction, short to very long first trials.
        for d in (-g, -g + 0.5 * np.linalg.norm(g) * rng.normal(size=x.size) / np.sqrt(x.size)):
            for alpha0 in (1e-6, 1e-2, 1.0, 50.0):
                yield x, d, alpha0


@pytest.mark.parametrize("c1,c2", [(1e-4, 0.9), (1e-4, 0.1), (0.3, 0.4)])
@pytest.mark.reference("second_order.strong_wolfe")
def test_accepted_steps_satisfy_strong_wolfe(c1, c2):
    for x, d, alpha0 in _cases():
        g = scipy.optimize.rosen_der(x)
        slope = g @ d
        assert slope < 0
        out = _search(x, d, alpha0, c1, c2)
        assert out["status"] == line_search.WOLFE, (x, d, alpha0)
        alpha = out["alpha"]
        f_new = scipy.optimize.rosen(x + alpha * d)
        slope_new = scipy.optimize.rosen_der(x + alpha * d) @ d
        assert alpha > 0
        assert f_new <= scipy.optimize.rosen(x) + c1 * alpha * slope
        assert abs(slope_new) <= c2 * abs(slope)
        np.testing.assert_allclose(out["f"], f_new, rtol=1e-12)
        np.testing.assert_allclose(
            out["g"], scipy.optimize.rosen_der(x + alpha * d), rtol=1e-10, atol=1e-12
        )


def test_fallback_returns_an_armijo_point_when_wolfe_budget_is_spent():
    """One trial point, too long: the Wolfe search fails, one halving finds an Armijo point."""
    x = POINTS[0]
    g = scipy.optimize.rosen_der(x)

    def armijo(alpha):
        return scipy.optimize.rosen(x - alpha * g) <= scipy.optimize.rosen(x) - 1e-4 * alpha * g @ g

    alpha0 = next(2.0**-k for k in range(40) if not armijo(2.0**-k) and armijo(2.0 ** -(k + 1)))
    out = _search(x, -g, alpha0, 1e-4, 0.9, max_evaluations=1)
    assert out["status"] == line_search.ARMIJO
    assert out["alpha"] == alpha0 / 2
    assert int(out["evaluations"]) == 2


def test_failure_keeps_the_point_when_every_trial_is_non_finite():
    x = tf.constant([1.0, 2.0], tf.float64)

    def nan_everywhere(z):
        return tf.constant(np.nan, tf.float64), tf.fill([2], tf.constant(np.nan, tf.float64))

    g0 = tf.constant([1.0, 1.0], tf.float64)
    out = tf.function(
        lambda: line_search.strong_wolfe(
            nan_everywhere, x, tf.constant(0.0, tf.float64), g0, -g0, 1.0, max_evaluations=5
        )
    )()
    assert int(out["status"]) == line_search.FAILED
    assert float(out["alpha"]) == 0.0
    assert float(out["f"]) == 0.0
    assert int(out["evaluations"]) == 10  # 5 Wolfe trials, then 5 backtracking trials


def test_a_step_that_moves_nothing_is_never_accepted():
    """For steps below the resolution of x, f0 + c1 alpha g^T d rounds to f0 and x + alpha d to x.
    On 1 + 1e-10 ||x||^2 in float32 from x = (1, -1) every trial here (at most 1e-3 * 4^7 times
    the 2e-10 gradient) is such a step: there is a descent slope but nothing representable to
    gain, so the search must fail and keep the point rather than report a step that changes
    nothing (which a driver would accept forever)."""
    x = tf.constant([1.0, -1.0], tf.float32)

    def flat(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            f = 1.0 + 1e-10 * tf.reduce_sum(z * z)
        return f, tape.gradient(f, z)

    f0, g0 = flat(x)
    assert float(f0) == 1.0 and float(tf.reduce_sum(g0 * -g0)) < 0
    assert np.all((x + 1e-3 * 4.0**7 * -g0).numpy() == x.numpy())  # no trial moves x
    out = tf.function(
        lambda: line_search.strong_wolfe(flat, x, f0, g0, -g0, 1e-3, max_evaluations=8)
    )()
    assert int(out["status"]) == line_search.FAILED, int(out["status"])
    assert float(out["alpha"]) == 0.0 and float(out["f"]) == 1.0
