"""The one line search shared by every kerasopt second-order method. TensorFlow and JAX backends.

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

Everything runs inside the caller's compiled function (`tf.while_loop` / `jax.lax.while_loop`,
see `_ops.while_loop`): no Python round trip per evaluation. The loop carries one typed
`LineSearchState`; the search returns a `LineSearchResult`.
"""

import typing

import keras
import numpy as np
from keras import ops

from kerasopt.second_order import _ops

WOLFE = 0
APPROXIMATE_WOLFE = 1
ARMIJO = 2
FAILED = 3

_BRACKET, _ZOOM, _DONE = 0, 1, 2


class Trial(typing.NamedTuple):
    """One end of the bracket: a step length and what the line phi(a) = f(x + a d) does there."""

    step: typing.Any  # a, the step length
    value: typing.Any  # phi(a) = f(x + a d) (+inf where non-finite)
    slope: typing.Any  # phi'(a) = g(x + a d)^T d (NaN where non-finite)


class LineSearchState(typing.NamedTuple):
    """What the strong-Wolfe loop carries from one trial point to the next."""

    evaluations: typing.Any  # trial points evaluated so far (int32)
    stage: typing.Any  # _BRACKET, _ZOOM, _DONE (Wolfe point found) or _DONE + 1 (collapsed)
    step: typing.Any  # the next trial step length
    lo: Trial  # the best point so far satisfying sufficient decrease (a = 0 at the start)
    lo_gradient: typing.Any  # the full gradient at `lo`
    hi: Trial  # the other end of the bracket (a = +inf before one is found)
    smallest: typing.Any  # the smallest step tried (the backtracking fallback starts there)
    exact: typing.Any  # the point found satisfies the exact (not the approximate) conditions


class Backtrack(typing.NamedTuple):
    """What the Armijo backtracking fallback carries."""

    evaluations: typing.Any  # trial points evaluated (int32)
    step: typing.Any  # the current step length
    found: typing.Any  # an acceptable point was found (the loop stops)
    point: typing.Any  # the accepted point (x + step d, or the projected trial)
    value: typing.Any  # f at `point`
    gradient: typing.Any  # the gradient at `point`


class LineSearchResult(typing.NamedTuple):
    """The outcome of a line search."""

    alpha: typing.Any  # the accepted step length (0 when the search failed)
    f: typing.Any  # the loss there (the starting loss when it failed)
    g: typing.Any  # the gradient there (the starting gradient when it failed)
    evaluations: typing.Any  # loss-and-gradient evaluations used (int32)
    status: typing.Any  # WOLFE, APPROXIMATE_WOLFE, ARMIJO or FAILED (int32)
    x: typing.Any  # the accepted point (the starting point when it failed)


def _int(value):
    return ops.convert_to_tensor(value, "int32")


def _finite(*tensors):
    ok = ops.all(ops.isfinite(tensors[0]))
    for t in tensors[1:]:
        ok = ok & ops.all(ops.isfinite(t))
    return ok


def _cubic_minimizer(a0, f0, d0, a1, f1, d1):
    """Minimizer of the cubic through (a0, f0, d0) and (a1, f1, d1) (N&W eq. 3.59); NaN if none."""
    t1 = d0 + d1 - 3.0 * (f0 - f1) / (a0 - a1)
    t2 = ops.sign(a1 - a0) * ops.sqrt(t1 * t1 - d0 * d1)
    return a1 - (a1 - a0) * (d1 + t2 - t1) / (d1 - d0 + 2.0 * t2)


def _zoom_trial(lo, hi):
    """Safeguarded cubic interpolation inside the bracket, bisection otherwise."""
    cubic = _cubic_minimizer(*lo, *hi)
    left, right = ops.minimum(lo.step, hi.step), ops.maximum(lo.step, hi.step)
    margin = 0.1 * (right - left)
    usable = ops.isfinite(cubic) & (cubic >= left + margin) & (cubic <= right - margin)
    return ops.where(usable, cubic, 0.5 * (lo.step + hi.step))


def _extrapolation_trial(previous, current):
    cubic = _cubic_minimizer(*previous, *current)
    a = current.step
    cubic = ops.where(ops.isfinite(cubic), cubic, 4.0 * a)
    return ops.clip(cubic, 1.1 * a, 4.0 * a)


def _progress(f, g, f0, g0):
    """The point moved: a lower loss, or (where the loss is flat at rounding level) another
    gradient. For steps below the resolution of x, f0 + c1 alpha g^T d rounds to f0 and x + alpha
    d to x; accepting such a step would repeat forever."""
    return (f < f0) | ops.any(ops.not_equal(g, g0))


def strong_wolfe(value_and_gradient, x, f0, g0, d, alpha0, c1=1e-4, c2=0.9, max_evaluations=20):
    """Step length along `d` from `x` by a strong-Wolfe search with an Armijo fallback.

    Args:
        value_and_gradient: callable mapping a flat point to `(loss, flat gradient)`
            (traced into the caller's compiled function).
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
        ARMIJO or FAILED): the fields of `search`'s `LineSearchResult` but its point.

    Example:
        For f(x) = x^2 from x = 1 along d = -1 the exact minimizer is alpha = 1; the accepted
        step satisfies the strong Wolfe conditions (`keras.ops`, so on TensorFlow or JAX):

        >>> import numpy as np
        >>> from keras import ops
        >>> from kerasopt.second_order import strong_wolfe
        >>> fg = lambda x: (ops.sum(x ** 2), 2 * x)
        >>> x = ops.convert_to_tensor([1.0])
        >>> out = strong_wolfe(fg, x, *fg(x), d=ops.convert_to_tensor([-1.0]), alpha0=0.5)
        >>> alpha = float(out["alpha"])
        >>> (1 - alpha) ** 2 <= 1 - 1e-4 * 2 * alpha, abs(-2 * (1 - alpha)) <= 0.9 * 2
        (True, True)

    References:
        Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Algorithms 3.5 and 3.6.
    """
    _ops.require_backend("kerasopt.second_order.strong_wolfe")
    result = search(value_and_gradient, x, f0, g0, d, alpha0, c1, c2, max_evaluations)
    return {k: v for k, v in result._asdict().items() if k != "x"}


def search(value_and_gradient, x, f0, g0, d, alpha0, c1=1e-4, c2=0.9, max_evaluations=20):
    """`strong_wolfe`'s search, returning a `LineSearchResult` (the methods call this)."""
    x = ops.convert_to_tensor(x)
    dtype = x.dtype
    c1 = ops.cast(c1, dtype)
    c2 = ops.cast(c2, dtype)
    zero = ops.zeros([], dtype)
    inf = ops.cast(float("inf"), dtype)
    dphi0 = ops.sum(g0 * d)
    eps = ops.cast(np.finfo(keras.backend.standardize_dtype(dtype)).eps, dtype)
    eps_f = ops.sqrt(eps) * ops.abs(f0)

    def evaluate(alpha):
        f, g = value_and_gradient(x + alpha * d)
        return f, ops.sum(g * d), g

    def cond(state):
        return (state.stage < _DONE) & (state.evaluations < max_evaluations)

    def body(state):
        a, lo, hi = state.step, state.lo, state.hi
        f, dphi, g = evaluate(a)
        finite = _finite(f, dphi, g)
        current = Trial(
            a, ops.where(finite, f, inf), ops.where(finite, dphi, ops.cast(np.nan, dtype))
        )
        armijo = finite & (f <= f0 + c1 * a * dphi0) & (f < lo.value)
        approximate = (
            finite & (-a * dphi0 <= eps_f) & (f <= f0) & (dphi <= (2.0 * c1 - 1.0) * dphi0)
        )
        no_decrease = ~(armijo | approximate)
        curvature_ok = finite & (ops.abs(dphi) <= -c2 * dphi0)
        done = ~no_decrease & curvature_ok
        bracketing = ops.equal(state.stage, _BRACKET)
        # In the bracketing phase [lo, a] brackets a Wolfe point when a fails the decrease test
        # or when the slope turns non-negative (then the bracket is [a, lo]).
        upward = ~no_decrease & ~done & (current.slope >= 0)
        # Zoom phase: a replaces hi when it fails the decrease test; otherwise it becomes lo,
        # and the old lo becomes hi when the slope points past it (N&W Algorithm 3.6).
        swap_hi_to_lo = ~no_decrease & ~done & (current.slope * (hi.step - lo.step) >= 0)
        new_lo_is_a = ~no_decrease & ~done
        hi_from_lo = ops.where(bracketing, upward, swap_hi_to_lo)
        new_hi = _ops.select(no_decrease, current, _ops.select(hi_from_lo, lo, hi))
        new_lo = _ops.select(new_lo_is_a, current, lo)
        keep_bracketing = bracketing & new_lo_is_a & ~upward
        stage = ops.where(done, _DONE, ops.where(keep_bracketing, _BRACKET, _ZOOM))
        # Cubic data at hi may be unusable (non-finite loss): then bisect.
        step = ops.where(
            done,
            a,
            ops.where(
                keep_bracketing, _extrapolation_trial(lo, current), _zoom_trial(new_lo, new_hi)
            ),
        )
        # A bracket narrower than the floating-point resolution cannot improve: stop.
        collapsed = (stage == _ZOOM) & (
            ops.abs(new_hi.step - new_lo.step) <= eps * ops.maximum(new_lo.step, new_hi.step)
        )
        return LineSearchState(
            evaluations=state.evaluations + 1,
            stage=ops.cast(ops.where(collapsed, _DONE + 1, stage), "int32"),
            step=step,
            lo=_ops.select(done, Trial(a, f, new_lo.slope), new_lo),
            lo_gradient=ops.where(done | new_lo_is_a, g, state.lo_gradient),
            hi=new_hi,
            smallest=ops.minimum(state.smallest, a),
            exact=ops.where(done, armijo, state.exact),
        )

    start = LineSearchState(
        evaluations=_int(0),
        stage=_int(_BRACKET),
        step=ops.cast(alpha0, dtype),
        lo=Trial(zero, f0, dphi0),
        lo_gradient=g0,
        hi=Trial(inf, inf, ops.cast(np.nan, dtype)),
        smallest=inf,
        exact=ops.convert_to_tensor(False),
    )
    state = _ops.while_loop(cond, body, start)
    wolfe = ops.equal(state.stage, _DONE)
    lo = state.lo
    has_decrease = (lo.step > 0) & _progress(lo.value, state.lo_gradient, f0, g0)

    def found():
        status = ops.where(wolfe, ops.where(state.exact, WOLFE, APPROXIMATE_WOLFE), ARMIJO)
        return LineSearchResult(
            lo.step, lo.value, state.lo_gradient, state.evaluations, _int(status), x + lo.step * d
        )

    def fallback():
        out = backtrack(
            value_and_gradient, x, f0, g0, d, state.smallest, c1, max_evaluations, first=False
        )
        return out._replace(evaluations=out.evaluations + state.evaluations)

    return _ops.cond(wolfe | has_decrease, found, fallback)


def backtrack(
    value_and_gradient,
    x,
    f0,
    g0,
    d,
    alpha0,
    c1,
    max_evaluations,
    lower=None,
    upper=None,
    first=True,
):
    """Backtracking (halving the step) until sufficient decrease with progress.

    Unbounded (`lower` None): the Armijo fallback of `search` (N&W Algorithm 3.1), whose
    trials are alpha0 / 2, alpha0 / 4, ... (`first=False`) and whose accepted point must move
    (`_progress`). Bounded: the projected path x(a) = P(x + a d) onto the box [lower, upper]
    from a = alpha0 (`projected_backtracking`).
    """
    dtype = x.dtype
    c1 = ops.cast(c1, dtype)
    bounded = lower is not None

    def trial_point(a):
        return ops.clip(x + a * d, lower, upper) if bounded else x + a * d

    def cond(state):
        going = ~state.found & (state.evaluations < max_evaluations)
        return going if bounded else going & (state.step > 0)

    def body(state):
        a = state.step if first else 0.5 * state.step
        point = trial_point(a)
        f, g = value_and_gradient(point)
        if bounded:
            decrease = ops.sum(g0 * (point - x))
            ok = _finite(f, g) & (decrease < 0) & (f <= f0 + c1 * decrease)
        else:
            ok = _finite(f, g) & (f <= f0 + c1 * a * ops.sum(g0 * d)) & _progress(f, g, f0, g0)
        new = Backtrack(state.evaluations + 1, a, ok, point, f, g)
        if first:  # the step to try next is half this one unless this one passed
            new = new._replace(step=ops.where(ok, a, 0.5 * a))
        return _ops.select(
            ok, new, new._replace(point=state.point, value=state.value, gradient=state.gradient)
        )

    start = Backtrack(_int(0), ops.cast(alpha0, dtype), ops.convert_to_tensor(False), x, f0, g0)
    out = _ops.while_loop(cond, body, start)
    alpha = ops.where(out.found, out.step, ops.zeros([], dtype))
    status = _int(ops.where(out.found, ARMIJO, FAILED))
    return LineSearchResult(alpha, out.value, out.gradient, out.evaluations, status, out.point)


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
        a `LineSearchResult` (`x`, `f` and `g` at the accepted point; `x`, `f0`, `g0` when
        the search failed; status ARMIJO or FAILED).
    """
    return backtrack(
        value_and_gradient, x, f0, g0, d, alpha0, c1, max_evaluations, lower, upper, first=True
    )
