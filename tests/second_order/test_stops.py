"""The stop rules and step-acceptance rules of the second-order drivers, exercised directly
against closed forms: the relative-change (`ftol`) and evaluation-budget stops, the
approximate-Wolfe acceptance of the line search, and the Levenberg-Marquardt damping update."""

import math

import numpy as np
import pytest
import scipy.optimize
import tensorflow as tf
from keras import ops

from kerasopt.second_order import LBFGS, Newton, _core, line_search, minimize


def _rosen(w):
    return ops.sum(100.0 * (w[1:] - w[:-1] ** 2) ** 2 + (1.0 - w[:-1]) ** 2)


# TensorFlow only: on JAX, XLA's summation order leaves `fun` 2.4e-12 (relative) from SciPy's
# rosen at 3.2e-9, outside this test's 1e-12.
@pytest.mark.parametrize("ftol", [1e-3, 1e-6])
def test_ftol_stops_at_the_first_small_relative_change(ftol):
    """Documented rule: stop (converged) after the first iteration k with
    |f_{k-1} - f_k| / max(|f_{k-1}|, |f_k|, 1) <= ftol; the losses come from the callback and
    f_0 from SciPy's Rosenbrock, so the expected stop is computed independently."""
    x0 = np.array([-1.2, 1.0, -0.5, 0.8])
    losses = [scipy.optimize.rosen(x0)]
    result = minimize(
        _rosen,
        x0,
        method=LBFGS(gtol=0.0, ftol=ftol),
        callback=lambda i, x, f: losses.append(f) and False,
    )
    changes = [
        abs(a - b) / max(abs(a), abs(b), 1.0) for a, b in zip(losses[:-1], losses[1:], strict=True)
    ]
    expected = next(k + 1 for k, change in enumerate(changes) if change <= ftol)
    assert result.iterations == expected == len(changes)
    assert result.converged and result.message == f"relative loss change <= ftol={ftol:g}"
    np.testing.assert_allclose(result.fun, scipy.optimize.rosen(result.x), rtol=1e-12)


@pytest.mark.parametrize("budget", [1, 7, 25])
def test_max_evaluations_stops_at_the_first_iteration_that_spends_the_budget(budget):
    """Every loss-and-gradient evaluation increments a counter inside `fn`; the run stops
    (not converged) after the first iteration whose evaluations reach the budget."""
    counter = tf.Variable(0)

    def counted(w):
        with tf.control_dependencies([counter.assign_add(1)]):
            return _rosen(w)

    spent = []
    result = minimize(
        counted,
        np.array([-1.2, 1.0]),
        method=LBFGS(gtol=0.0, ftol=0.0),
        max_evaluations=budget,
        callback=lambda i, x, f: spent.append(int(counter.numpy())) and False,
    )
    assert result.evaluations == int(counter.numpy())
    if budget == 1:  # the start already spends it: one iteration, then the test
        assert spent[0] >= 1 and result.iterations == 1
    expected = next(k + 1 for k, n in enumerate(spent) if n >= budget)
    assert result.iterations == expected == len(spent)
    assert not result.converged and result.message == f"reached max_evaluations={budget}"


def _flat_at_rounding(offset):
    """f(x) = C + (x - 1)^2 / 2 in float64 with C = 1e8 (ulp 1.5e-8): from x0 = 1 + 1e-4 every
    loss rounds to C, so no decrease is visible, while the gradient x - 1 is exact."""

    def fg(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            f = offset + 0.5 * tf.reduce_sum((x - 1.0) ** 2)
        return f, tape.gradient(f, x)

    return fg


@pytest.mark.parametrize("alpha0", [0.5, 1.0, 1.5])
def test_approximate_wolfe_accepts_a_step_whose_decrease_is_below_rounding(alpha0):
    """Closed form along d = -g = -delta: f(x + a d) = C + (1 - a)^2 delta^2 / 2 rounds to
    f(x) = C, so the exact sufficient-decrease test cannot pass (no strictly lower loss),
    while the first-order decrease a delta^2 = a 1e-8 is below eps_f = sqrt(eps) |C| = 1.49,
    the slope g(x + a d)^T d = -(1 - a) delta^2 is <= (2 c1 - 1) g^T d = (1 - 2 c1) delta^2,
    and |slope| <= c2 delta^2 holds for a >= 1 - c2: the approximate Wolfe conditions accept
    the first trial, with status APPROXIMATE_WOLFE."""
    c, delta = 1e8, 1e-4
    fg = _flat_at_rounding(tf.constant(c, tf.float64))
    x = tf.constant([1.0 + delta], tf.float64)
    f0, g0 = fg(x)
    assert float(f0) == c and float(fg(x - alpha0 * g0)[0]) == c  # nothing visible to gain
    assert -alpha0 * float(tf.reduce_sum(-g0 * g0)) <= math.sqrt(np.finfo(float).eps) * c
    out = tf.function(
        lambda: line_search.strong_wolfe(fg, x, f0, g0, -g0, tf.constant(alpha0, tf.float64))
    )()
    assert int(out["status"]) == line_search.APPROXIMATE_WOLFE
    assert float(out["alpha"]) == alpha0 and int(out["evaluations"]) == 1
    assert float(out["f"]) == c
    np.testing.assert_allclose(out["g"].numpy(), (1.0 - alpha0) * delta, rtol=1e-6)


@pytest.mark.parametrize("c, delta", [(0.0, 1e-4), (1e8, 2.0)])
def test_a_visible_decrease_must_pass_the_exact_test(c, delta):
    """Without the offset (decrease visible), or with a first-order decrease delta^2 = 4 above
    eps_f = 1.49, the same step is accepted by the exact strong Wolfe test (status WOLFE)."""
    fg = _flat_at_rounding(tf.constant(c, tf.float64))
    x = tf.constant([1.0 + delta], tf.float64)
    f0, g0 = fg(x)
    out = tf.function(
        lambda: line_search.strong_wolfe(fg, x, f0, g0, -g0, tf.constant(1.0, tf.float64))
    )()
    assert int(out["status"]) == line_search.WOLFE
    assert float(out["alpha"]) == 1.0 and float(out["f"]) == c


A = np.array([[1.0, 0.5], [0.0, 2.0]])


def _pseudo_huber_tf(w):
    z = ops.matmul(A, w)
    return ops.sum(ops.sqrt(1.0 + z * z))


def _pseudo_huber_np(w):
    """f = sum sqrt(1 + z^2), z = A w: gradient A^T (z / s), Hessian A^T diag(1 / s^3) A."""
    z = A @ w
    s = np.sqrt(1.0 + z * z)
    return s.sum(), A.T @ (z / s), A.T @ np.diag(1.0 / s**3) @ A


def _levenberg_marquardt(w, lam, iterations, max_trials):
    """The documented loop (Madsen, Nielsen & Tingleff 2004, sec. 3.2): solve (H + lam I) p =
    -g; accept when f(w + p) < f(w), then lam *= max(1/3, 1 - (2 rho - 1)^3) with rho the gain
    ratio (actual / predicted reduction, predicted = -(g^T p + p^T H p / 2)), nu = 2;
    otherwise lam = max(lam, 1e-8) * nu and nu doubles. Returns per iteration (w, lam, nu,
    trials)."""
    nu, out = 2.0, []
    for _ in range(iterations):
        f, g, h = _pseudo_huber_np(w)
        trial = 0
        while trial < max_trials:
            trial += 1
            p = np.linalg.solve(h + lam * np.eye(len(w)), -g)
            predicted = -(g @ p + 0.5 * p @ h @ p)
            f_new = _pseudo_huber_np(w + p)[0]
            if f_new < f:
                rho = (f - f_new) / predicted
                lam = lam * max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
                nu, w = 2.0, w + p
                break
            lam, nu = max(lam, 1e-8) * nu, 2.0 * nu
        out.append((w.copy(), lam, nu, trial))
    return out


@pytest.mark.portable
def test_levenberg_marquardt_damping_follows_nielsens_update():
    """From w0 = (2, -1.5) the undamped Newton step on the pseudo-Huber loss overshoots far
    (it flips the sign of z and multiplies it by about 1 + z^2), so the first iterations
    reject trials and raise lambda before accepting (4 rejections: lambda 1e-3 -> 2e-3 -> 8e-3
    -> 6.4e-2 -> 1.024, nu 2 -> 32), then the gain ratio sets lambda (x 0.56, then x 1/3 per
    step once rho is about 1). Every iterate,
    damping, nu and trial count equals the NumPy restatement."""
    w0, lam0 = np.array([2.0, -1.5]), 1e-3
    method = Newton(damping=lam0, gtol=1e-7, ftol=0.0, max_damping_trials=30)
    seen = []

    def record(i, x, f):
        (program,) = _core.programs(method).values()
        seen.append(
            (
                x.copy(),
                float(program.state.method.damping),
                float(program.state.method.nu),
                f,
            )
        )
        return False

    result = minimize(_pseudo_huber_tf, w0, method=method, max_iterations=20, callback=record)
    expected = _levenberg_marquardt(w0, lam0, len(seen), 30)
    # the gradient falls below gtol = 1e-7 at the 7th iterate (7.7e-9; 2.1e-6 at the 6th)
    assert result.converged and result.iterations == len(seen) == 7
    assert expected[0][3] == 5  # rejected trials happened
    assert any(
        b[1] < a[1] for a, b in zip(expected[:-1], expected[1:], strict=True)
    )  # and lambda shrank later
    evaluations = 1
    for (x, lam, nu, f), (w, lam_ref, nu_ref, trials) in zip(seen, expected, strict=True):
        np.testing.assert_allclose(x, w, rtol=1e-9, atol=1e-12)
        assert lam == pytest.approx(lam_ref, rel=1e-9)
        assert nu == nu_ref
        assert f == pytest.approx(_pseudo_huber_np(w)[0], rel=1e-12)
        evaluations += trials
    assert result.evaluations == evaluations
