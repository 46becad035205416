"""The one line search shared by every kerasopt second-order method. TensorFlow backend.

`strong_wolfe` finds a step length `alpha` along a descent direction `d` that satisfies the
strong Wolfe conditions (Nocedal & Wright, Numerical Optimization, 2nd ed., sec. 3.1, eq. 3.7):

    f(x + alpha d) <= f(x) + c1 alpha g(x)^T d          (sufficient decrease, Armijo)
    |g(x + alpha d)^T d| <= c2 |g(x)^T d|               (curvature)

with the bracketing phase and the `zoom` phase of Nocedal & Wright's Algorithms 3.5 and 3.6
(also Goodfellow et al., Deep Learning, sec. 8.6.2 for its use in conjugate gradients). Trial
steps come from safeguarded cubic interpolation (eq. 3.59) on the two bracketing points, with
bisection when the cubic is unusable; while bracketing, the step is extrapolated by the cubic,
clamped to [1.1, 4] times the current step. A non-finite loss or directional derivative at a
trial point counts as a failed sufficient-decrease test, so the search backs off from overflow.

Near a minimizer the change of the loss along the line falls to rounding level and the
sufficient-decrease test becomes a coin toss. There, as in Hager & Zhang's CG_DESCENT (2005,
"A new conjugate gradient method with guaranteed descent and an efficient line search",
sec. 4), the approximate Wolfe conditions are accepted instead: (2 c1 - 1) g(x)^T d >=
g(x + alpha d)^T d, with the same curvature test and, stricter than Hager & Zhang's
f <= f(x) + eps_f, no increase of the loss f(x + alpha d) <= f(x) (status
`APPROXIMATE_WOLFE`; an exact strong-Wolfe point reports `WOLFE`). Here eps_f =
sqrt(machine epsilon) |f(x)|, and the approximate test is only used for trial steps whose
first-order decrease -alpha g(x)^T d is itself below eps_f, so steps with a decrease that
float arithmetic can see must pass the exact test.

Fallback (documented): when the strong Wolfe search has not succeeded within
`max_evaluations` trial points (or its bracket shrinks below floating-point resolution), it
returns the best trial point that satisfied the sufficient-decrease condition and moved (a
lower loss, or another gradient where the loss is flat at rounding level), if any (status
`ARMIJO`). If none did, a backtracking Armijo search (Nocedal & Wright, Algorithm 3.1,
contraction factor 1/2) runs from the smallest step tried, for up to `max_evaluations` more
evaluations, with the same requirement that the point moved. If that also fails the status is `FAILED` and the step is zero (the
caller keeps its weights).

Everything runs inside the caller's graph (`tf.while_loop`): no Python round trip per
evaluation.
"""

import numpy as np

from kerasopt._backend import tf

WOLFE = 0
APPROXIMATE_WOLFE = 1
ARMIJO = 2
FAILED = 3

_BRACKET, _ZOOM, _DONE = 0, 1, 2


def _cubic_minimizer(a0, f0, d0, a1, f1, d1):
    """Minimizer of the cubic through (a0, f0, d0) and (a1, f1, d1) (N&W eq. 3.59); NaN if none."""
    t1 = d0 + d1 - 3.0 * (f0 - f1) / (a0 - a1)
    t2 = tf.sign(a1 - a0) * tf.sqrt(t1 * t1 - d0 * d1)
    return a1 - (a1 - a0) * (d1 + t2 - t1) / (d1 - d0 + 2.0 * t2)


def _zoom_trial(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi):
    """Safeguarded cubic interpolation inside the bracket, bisection otherwise."""
    cubic = _cubic_minimizer(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi)
    left, right = tf.minimum(a_lo, a_hi), tf.maximum(a_lo, a_hi)
    margin = 0.1 * (right - left)
    usable = tf.math.is_finite(cubic) & (cubic >= left + margin) & (cubic <= right - margin)
    return tf.where(usable, cubic, 0.5 * (a_lo + a_hi))


def _extrapolation_trial(a_prev, f_prev, d_prev, a, f, d):
    cubic = _cubic_minimizer(a_prev, f_prev, d_prev, a, f, d)
    cubic = tf.where(tf.math.is_finite(cubic), cubic, 4.0 * a)
    return tf.clip_by_value(cubic, 1.1 * a, 4.0 * a)


def _progress(f, g, f0, g0):
    """The point moved: a lower loss, or (where the loss is flat at rounding level) another
    gradient. For steps below the resolution of x, f0 + c1 alpha g^T d rounds to f0 and x + alpha
    d to x; accepting such a step would repeat forever."""
    return (f < f0) | tf.reduce_any(tf.not_equal(g, g0))


def strong_wolfe(value_and_gradient, x, f0, g0, d, alpha0, c1=1e-4, c2=0.9, max_evaluations=20):
    """Step length along `d` from `x` by a strong-Wolfe search with an Armijo fallback.

    Args:
        value_and_gradient: callable mapping a flat point to `(loss, flat gradient)`
            (traced into the caller's graph).
        x: the current point (a flat tensor).
        f0: the loss at `x`.
        g0: the flat gradient at `x`.
        d: the search direction; it must be a descent direction (`g0 . d < 0`).
        alpha0: the first trial step (> 0).
        c1: the sufficient-decrease (Armijo) constant, 0 < c1 < c2.
        c2: the curvature constant, c1 < c2 < 1.
        max_evaluations: trial points for the Wolfe search (and again for the fallback).

    Returns:
        dict with `alpha`, `f` and `g` at the accepted point (`alpha` 0 and `f0`, `g0` when
        the search failed), `evaluations` (int32) and `status` (WOLFE, APPROXIMATE_WOLFE,
        ARMIJO or FAILED).

    Example:
        For f(x) = x^2 from x = 1 along d = -1 the exact minimizer is alpha = 1; the accepted
        step satisfies the strong Wolfe conditions:

        >>> import tensorflow as tf
        >>> from kerasopt.second_order import strong_wolfe
        >>> fg = lambda x: (tf.reduce_sum(x ** 2), 2 * x)
        >>> x = tf.constant([1.0], tf.float64)
        >>> out = strong_wolfe(fg, x, *fg(x), d=tf.constant([-1.0], tf.float64), alpha0=tf.constant(0.5, tf.float64))
        >>> alpha = float(out["alpha"])
        >>> (1 - alpha) ** 2 <= 1 - 1e-4 * 2 * alpha, abs(-2 * (1 - alpha)) <= 0.9 * 2
        (True, True)

    References:
        Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Algorithms 3.5 and 3.6.
    """
    from kerasopt.second_order._core import require_tensorflow  # _core imports this module

    require_tensorflow("kerasopt.second_order.strong_wolfe")
    dtype = x.dtype
    c1 = tf.constant(c1, dtype)
    c2 = tf.constant(c2, dtype)
    zero = tf.zeros([], dtype)
    dphi0 = tf.reduce_sum(g0 * d)
    eps = tf.constant(np.finfo(dtype.as_numpy_dtype).eps, dtype)
    eps_f = tf.sqrt(eps) * tf.abs(f0)

    def evaluate(alpha):
        f, g = value_and_gradient(x + alpha * d)
        return f, tf.reduce_sum(g * d), g

    def cond(i, stage, *_):
        return (stage < _DONE) & (i < max_evaluations)

    def body(i, stage, a, a_lo, f_lo, d_lo, g_lo, a_hi, f_hi, d_hi, a_min, exact):
        f, dphi, g = evaluate(a)
        finite = (
            tf.math.is_finite(f) & tf.math.is_finite(dphi) & tf.reduce_all(tf.math.is_finite(g))
        )
        f_safe = tf.where(finite, f, tf.constant(float("inf"), dtype))
        d_safe = tf.where(finite, dphi, tf.constant(float("nan"), dtype))
        armijo = finite & (f <= f0 + c1 * a * dphi0) & (f < f_lo)
        approximate = (
            finite & (-a * dphi0 <= eps_f) & (f <= f0) & (dphi <= (2.0 * c1 - 1.0) * dphi0)
        )
        no_decrease = ~(armijo | approximate)
        curvature_ok = finite & (tf.abs(dphi) <= -c2 * dphi0)
        done = ~no_decrease & curvature_ok
        n_exact = tf.where(done, armijo, exact)
        bracketing = tf.equal(stage, _BRACKET)
        # In the bracketing phase [lo, a] brackets a Wolfe point when a fails the decrease test
        # or when the slope turns non-negative (then the bracket is [a, lo]).
        upward = ~no_decrease & ~done & (d_safe >= 0)
        # Zoom phase: a replaces hi when it fails the decrease test; otherwise it becomes lo,
        # and the old lo becomes hi when the slope points past it (N&W Algorithm 3.6).
        swap_hi_to_lo = ~no_decrease & ~done & (d_safe * (a_hi - a_lo) >= 0)

        new_lo_is_a = ~no_decrease & ~done
        hi_from_a = no_decrease
        hi_from_lo = tf.where(bracketing, upward, swap_hi_to_lo)
        n_a_hi = tf.where(hi_from_a, a, tf.where(hi_from_lo, a_lo, a_hi))
        n_f_hi = tf.where(hi_from_a, f_safe, tf.where(hi_from_lo, f_lo, f_hi))
        n_d_hi = tf.where(hi_from_a, d_safe, tf.where(hi_from_lo, d_lo, d_hi))
        n_a_lo = tf.where(new_lo_is_a, a, a_lo)
        n_f_lo = tf.where(new_lo_is_a, f_safe, f_lo)
        n_d_lo = tf.where(new_lo_is_a, d_safe, d_lo)
        n_g_lo = tf.where(new_lo_is_a, g, g_lo)

        keep_bracketing = bracketing & new_lo_is_a & ~upward
        n_stage = tf.where(done, _DONE, tf.where(keep_bracketing, _BRACKET, _ZOOM))
        extrapolated = _extrapolation_trial(a_lo, f_lo, d_lo, a, f_safe, d_safe)
        # Quadratic/cubic data at hi may be unusable (non-finite loss): then bisect.
        zoomed = _zoom_trial(n_a_lo, n_f_lo, n_d_lo, n_a_hi, n_f_hi, n_d_hi)
        n_a = tf.where(done, a, tf.where(keep_bracketing, extrapolated, zoomed))
        # A bracket narrower than the floating-point resolution cannot improve: stop.
        collapsed = (n_stage == _ZOOM) & (
            tf.abs(n_a_hi - n_a_lo) <= eps * tf.maximum(n_a_lo, n_a_hi)
        )
        n_stage = tf.where(collapsed, _DONE + 1, n_stage)
        n_g_lo = tf.where(done, g, n_g_lo)
        n_f_lo = tf.where(done, f, n_f_lo)
        n_a_lo = tf.where(done, a, n_a_lo)
        return (
            i + 1,
            n_stage,
            n_a,
            n_a_lo,
            n_f_lo,
            n_d_lo,
            n_g_lo,
            n_a_hi,
            n_f_hi,
            n_d_hi,
            tf.minimum(a_min, a),
            n_exact,
        )

    inf = tf.constant(float("inf"), dtype)
    init = (
        tf.constant(0),
        tf.constant(_BRACKET),
        tf.cast(alpha0, dtype),
        zero,
        f0,
        dphi0,
        g0,
        inf,
        inf,
        tf.constant(float("nan"), dtype),
        inf,
        tf.constant(False),
    )
    i, stage, _, a_lo, f_lo, _, g_lo, _, _, _, a_min, exact = tf.while_loop(cond, body, init)
    wolfe = tf.equal(stage, _DONE)
    has_decrease = (a_lo > 0) & _progress(f_lo, g_lo, f0, g0)

    def backtrack():
        def bt_cond(j, a, found, f, g):
            return ~found & (j < max_evaluations) & (a > 0)

        def bt_body(j, a, found, f, g):
            a = 0.5 * a
            fa, _, ga = evaluate(a)
            ok = (
                tf.math.is_finite(fa)
                & (fa <= f0 + c1 * a * dphi0)
                & _progress(fa, ga, f0, g0)
                & tf.reduce_all(tf.math.is_finite(ga))
            )
            return j + 1, a, ok, tf.where(ok, fa, f), tf.where(ok, ga, g)

        j, a, found, f, g = tf.while_loop(
            bt_cond, bt_body, (tf.constant(0), a_min, tf.constant(False), f0, g0)
        )
        return j, tf.where(found, a, zero), f, g, tf.where(found, ARMIJO, FAILED)

    def finish():
        return (
            tf.constant(0),
            a_lo,
            f_lo,
            g_lo,
            tf.where(wolfe, tf.where(exact, WOLFE, APPROXIMATE_WOLFE), ARMIJO),
        )

    j, alpha, f, g, status = tf.cond(wolfe | has_decrease, finish, backtrack)
    return {"alpha": alpha, "f": f, "g": g, "evaluations": i + j, "status": status}


def projected_backtracking(
    value_and_gradient, x, f0, g0, d, alpha0, lower, upper, c1=1e-4, max_evaluations=20
):
    """Step along the projected path x(alpha) = P(x + alpha d), P the projection onto the box
    [lower, upper], by backtracking (halving alpha from `alpha0`) until the sufficient
    decrease f(x(alpha)) <= f0 + c1 g0^T (x(alpha) - x) holds with g0^T (x(alpha) - x) < 0
    (Bertsekas, "Projected Newton methods for optimization problems with simple
    constraints", 1982, eq. 32; Kim, Sra & Dhillon 2010). The strict-descent requirement
    means a step that moves nothing, or that the projection turned uphill, is never accepted.

    Returns:
        dict with `x`, `f` and `g` at the accepted point (`x`, `f0`, `g0` when the search
        failed), `evaluations` (int32) and `status` (ARMIJO or FAILED).
    """
    dtype = x.dtype
    c1 = tf.constant(c1, dtype)

    def cond(i, alpha, done, *_):
        return ~done & (i < max_evaluations)

    def body(i, alpha, done, x_best, f_best, g_best):
        trial = tf.clip_by_value(x + alpha * d, lower, upper)
        f, g = value_and_gradient(trial)
        decrease = tf.reduce_sum(g0 * (trial - x))
        ok = (
            tf.math.is_finite(f)
            & tf.reduce_all(tf.math.is_finite(g))
            & (decrease < 0)
            & (f <= f0 + c1 * decrease)
        )
        return (
            i + 1,
            tf.where(ok, alpha, 0.5 * alpha),
            ok,
            tf.where(ok, trial, x_best),
            tf.where(ok, f, f_best),
            tf.where(ok, g, g_best),
        )

    i, _, done, x_new, f, g = tf.while_loop(
        cond, body, (tf.constant(0), tf.cast(alpha0, dtype), tf.constant(False), x, f0, g0)
    )
    return {"x": x_new, "f": f, "g": g, "evaluations": i, "status": tf.where(done, ARMIJO, FAILED)}
