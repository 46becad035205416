"""The Moré-Thuente line search, L-BFGS-B's own. TensorFlow and JAX backends.

Moré & Thuente, "Line search algorithms with guaranteed sufficient decrease", ACM Trans. Math.
Software 20(3), 1994: the MINPACK-2 routines `dcsrch` and `dcstep`, which SciPy's L-BFGS-B
(and its BFGS and CG, first) call for their steps. It finds a step `alpha` along a descent
direction `d` that satisfies the strong Wolfe conditions (Nocedal & Wright, Numerical
Optimization, 2nd ed., eq. 3.7; sec. 3.5 recommends this search)

    f(x + alpha d) <= f(x) + ftol alpha g(x)^T d,     |g(x + alpha d)^T d| <= gtol |g(x)^T d|

by keeping an interval [stx, sty] known to contain such a step (stx: the best step so far):

- `_step` (dcstep) picks the next trial from the cubic and quadratic (secant) interpolants of
  the two ends and the trial, in four cases (a higher loss; a derivative of the other sign; a
  smaller derivative of the same sign; a larger one), and updates the interval;
- until a step with sufficient decrease and a non-negative derivative is seen (stage 1), the
  interval is updated on the modified function psi(a) = f(a) - f(0) - ftol a f'(0);
- a trial outside the interval falls back to bisection when two trials did not shrink the
  interval by a factor 0.66; before bracketing, trials extrapolate into [1.1, 4] times the
  previous step; `xtol` ends the search when the interval is narrower than xtol * its right end.

This differs from `line_search.search` (Nocedal & Wright's zoom with a safeguarded cubic that
falls back to bisection within 10% of either end) exactly where the first trial step fails:
after a far overshoot the cubic minimizer lies near the lower end, which the zoom replaces by
bisections (1/2, 1/4, ... of the step) and Moré-Thuente takes at once.

The kerasopt safeguards of `line_search.search` stay: a non-finite loss or derivative at a
trial point brackets the step there and bisects; near a minimizer, where the loss change is
at rounding level, Hager & Zhang's approximate Wolfe test is accepted (status
APPROXIMATE_WOLFE, see `line_search`); a converged step must move the point (`_progress`);
and when the search stops without a Wolfe point (a warning of `dcsrch`: xtol, rounding, or
`max_evaluations` spent), the best step seen is kept if it satisfies sufficient decrease
(ARMIJO), else the Armijo backtracking fallback of `line_search` runs (ARMIJO or FAILED).
L-BFGS-B itself accepts the last trial after such a warning, even one with a higher loss.
"""

import typing

import keras
import numpy as np
from keras import ops

from kerasopt.second_order import _ops
from kerasopt.second_order.line_search import (
    APPROXIMATE_WOLFE,
    ARMIJO,
    FAILED,
    WOLFE,
    LineSearchResult,
    _finite,
    _int,
    _progress,
)

# L-BFGS-B's values (Byrd, Lu, Nocedal & Zhu 1995; `lnsrlb`): relative interval width at
# which the search stops, and the largest step.
XTOL = 0.1
STEP_MAX = 1e10

# The loop's codes: searching (Moré-Thuente), backtracking (the fallback), and the three ends.
_RUNNING, _BACKTRACK, _CONVERGED, _FOUND, _FAILED = range(5)


class Interval(typing.NamedTuple):
    """dcstep's interval: the best step `stx` and the other end `sty`, with loss and slope."""

    stx: typing.Any
    fx: typing.Any
    gx: typing.Any
    sty: typing.Any
    fy: typing.Any
    gy: typing.Any


class MoreThuenteState(typing.NamedTuple):
    """What the Moré-Thuente loop carries from one trial point to the next."""

    evaluations: typing.Any  # trial points evaluated so far (int32)
    limit: typing.Any  # the evaluation count at which the current phase gives up (int32)
    code: typing.Any  # _RUNNING, _BACKTRACK, or an end: _CONVERGED, _FOUND, _FAILED (int32)
    exact: typing.Any  # the converged point satisfies the exact (not approximate) conditions
    step: typing.Any  # the next trial step (the accepted one at an end)
    interval: Interval
    bracketed: typing.Any  # the interval brackets a Wolfe point
    stage: typing.Any  # 1 until a point with psi <= 0 and f' >= 0 was seen, then 2 (int32)
    low: typing.Any  # the interval allowed for the next trial, [low, high]
    high: typing.Any
    width: typing.Any  # |sty - stx| now and one trial ago (the bisection test)
    width1: typing.Any
    f: typing.Any  # the loss at the last trial
    g: typing.Any  # the full gradient there
    f_best: typing.Any  # the loss at stx
    g_best: typing.Any  # the full gradient at stx
    best_moved: typing.Any  # stx's point moved from x (`line_search._progress`)
    at_best: typing.Any  # the search ended at stx (f_best, g_best), not at the last trial
    smallest: typing.Any  # the smallest step tried (the backtracking fallback halves it)


def _cubic(a, fa, da, b, fb, db):
    """(theta, gamma) of dcstep's cubic: theta = 3 (fa - fb) / (b - a) + da + db and
    gamma = sqrt(theta^2 - da db), computed as s sqrt((theta/s)^2 - (da/s)(db/s)) with
    s = max(|theta|, |da|, |db|) against overflow (NaN where the root is negative)."""
    theta = 3.0 * (fa - fb) / (b - a) + da + db
    s = ops.maximum(ops.maximum(ops.abs(theta), ops.abs(da)), ops.abs(db))
    return theta, s, (theta / s) ** 2 - (da / s) * (db / s)


def _higher(iv, stp, fp, dp, theta, gamma):
    """Case 1, a higher loss: the cubic step if it is closer to stx than the quadratic step,
    else their mean."""
    stx, fx, dx = iv.stx, iv.fx, iv.gx
    g1 = ops.where(stp < stx, -gamma, gamma)
    stpc = stx + ((g1 - dx) + theta) / (((g1 - dx) + g1) + dp) * (stp - stx)
    stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx)
    return ops.where(ops.abs(stpc - stx) <= ops.abs(stpq - stx), stpc, stpc + (stpq - stpc) / 2.0)


def _opposite(iv, stp, dp, theta, gamma, secant):
    """Case 2, a lower loss and a derivative of the other sign: of the cubic and the secant
    steps, the one farther from stp."""
    g2 = ops.where(stp > iv.stx, -gamma, gamma)
    stpc = stp + ((g2 - dp) + theta) / (((g2 - dp) + g2) + iv.gx) * (iv.stx - stp)
    return ops.where(ops.abs(stpc - stp) > ops.abs(secant - stp), stpc, secant)


def _smaller(iv, stp, dp, theta, s, root, secant, bracketed, low, high):
    """Case 3, a lower loss and a same-sign derivative of smaller magnitude: the cubic step
    only if the cubic tends to infinity in the step's direction (else the interval end),
    then the nearer (bracketed, at most 0.66 of the way to sty) or the farther of it and
    the secant step."""
    stx, dx = iv.stx, iv.gx
    g3 = s * ops.sqrt(ops.maximum(root, 0.0))
    g3 = ops.where(stp > stx, -g3, g3)
    r = ((g3 - dp) + theta) / ((g3 + (dx - dp)) + g3)
    end = ops.where(stp > stx, high, low)
    stpc = ops.where((r < 0) & ops.not_equal(g3, 0.0), stp + r * (stx - stp), end)
    closer = ops.abs(stpc - stp) < ops.abs(secant - stp)
    nearer = ops.where(closer, stpc, secant)
    farther = ops.where(ops.abs(stpc - stp) > ops.abs(secant - stp), stpc, secant)
    limit = stp + 0.66 * (iv.sty - stp)
    return ops.where(
        bracketed,
        ops.where(stp > stx, ops.minimum(limit, nearer), ops.maximum(limit, nearer)),
        ops.clip(farther, low, high),
    )


def _larger(iv, stp, fp, dp, bracketed, low, high):
    """Case 4, a lower loss and a same-sign derivative that did not decrease: the cubic step
    on (stp, sty) when bracketed, else the interval end."""
    sty, dy = iv.sty, iv.gy
    theta4, s4, root4 = _cubic(stp, fp, dy, sty, iv.fy, dp)
    g4 = s4 * ops.sqrt(root4)
    g4 = ops.where(stp > sty, -g4, g4)
    stpc = stp + ((g4 - dp) + theta4) / (((g4 - dp) + g4) + dy) * (sty - stp)
    return ops.where(bracketed, stpc, ops.where(stp > iv.stx, high, low))


def _step(iv, stp, fp, dp, bracketed, low, high):
    """dcstep: (the updated interval, the next trial step, whether it now brackets a
    minimizer), the trial safeguarded to [low, high] where unbracketed.

    The four cases of Moré & Thuente (1994, sec. 4), one function each; the cubic through stx
    and stp and the secant step, which cases 1 to 3 share, are computed once. All four cases
    are computed (a few scalar operations) and the one that applies is selected. Not a branch
    (`ops.switch`): under TensorFlow XLA a `tf.switch_case` inside the search's loop made the
    first compile of the iteration program about 20x slower (smooth regression, MLP 2-64-64-1,
    busy machine: 65 s vs 3 s), and on JAX `lax.switch` saved nothing measurable (both
    programs in one process, alternating, on that problem and on the MNIST MLP: CPU time
    per iteration within 2%, of the first compiled call within 5%, both ways)."""
    higher = fp > iv.fx
    opposite = ops.sign(dp) * ops.sign(iv.gx) < 0
    smaller = ops.abs(dp) < ops.abs(iv.gx)
    theta, s, root = _cubic(iv.stx, iv.fx, iv.gx, stp, fp, dp)
    gamma = s * ops.sqrt(root)
    secant = stp + (dp / (dp - iv.gx)) * (iv.stx - stp)
    trial = ops.where(
        higher,
        _higher(iv, stp, fp, dp, theta, gamma),
        ops.where(
            opposite,
            _opposite(iv, stp, dp, theta, gamma, secant),
            ops.where(
                smaller,
                _smaller(iv, stp, dp, theta, s, root, secant, bracketed, low, high),
                _larger(iv, stp, fp, dp, bracketed, low, high),
            ),
        ),
    )
    # The interval: stp replaces sty after a higher loss; otherwise it becomes stx, and the
    # old stx becomes sty where the derivative changed sign.
    current = (stp, fp, dp)
    new_y = _ops.select(higher, current, _ops.select(opposite, tuple(iv[:3]), tuple(iv[3:])))
    new_x = _ops.select(higher, tuple(iv[:3]), current)
    return Interval(*new_x, *new_y), trial, bracketed | higher | opposite


def search(
    value_and_gradient,
    x,
    f0,
    g0,
    d,
    alpha0,
    c1=1e-4,
    c2=0.9,
    max_evaluations=20,
    xtol=XTOL,
    step_max=STEP_MAX,
):
    """Moré-Thuente step along the descent direction `d` from `x`: a `LineSearchResult`.

    Args:
        value_and_gradient: callable mapping a flat point to `(loss, flat gradient)`.
        x: the current point (flat).
        f0: the loss at `x`.
        g0: the flat gradient at `x`.
        d: the search direction (`g0 . d < 0`).
        alpha0: the first trial step (> 0).
        c1: dcsrch's `ftol` (sufficient decrease), 0 < c1 < c2.
        c2: dcsrch's `gtol` (curvature), c1 < c2 < 1.
        max_evaluations: trial points for the search (and again for the fallback).
        xtol: relative interval width at which the search gives up (L-BFGS-B: 0.1).
        step_max: the largest step (L-BFGS-B: 1e10 without bounds).
    """
    x = ops.convert_to_tensor(x)
    dtype = x.dtype
    c1, c2 = ops.cast(c1, dtype), ops.cast(c2, dtype)
    xtol, step_max = ops.cast(xtol, dtype), ops.cast(step_max, dtype)
    zero = ops.zeros([], dtype)
    dphi0 = ops.sum(g0 * d)
    gtest = c1 * dphi0
    eps = ops.cast(np.finfo(keras.backend.standardize_dtype(dtype)).eps, dtype)
    eps_f = ops.sqrt(eps) * ops.abs(f0)

    def cond(state):
        return state.code <= _BACKTRACK

    def body(state):
        # One evaluation site for both phases: the compiled program holds the loss once.
        stp, iv = state.step, state.interval
        f, g = value_and_gradient(x + stp * d)
        dp = ops.sum(g * d)
        finite = _finite(f, dp, g)
        ftest = f0 + stp * gtest
        stage = ops.where((state.stage == 1) & (f <= ftest) & (dp >= 0), 2, state.stage)
        curvature = ops.abs(dp) <= -c2 * dphi0
        exact = finite & (f <= ftest) & curvature & _progress(f, g, f0, g0)
        approximate = (
            finite
            & curvature
            & (-stp * dphi0 <= eps_f)
            & (f <= f0)
            & (dp <= (2.0 * c1 - 1.0) * dphi0)
            & _progress(f, g, f0, g0)
        )
        warning = (
            state.bracketed
            & (
                (stp <= state.low)
                | (stp >= state.high)
                | (state.high - state.low <= xtol * state.high)
            )
        ) | (ops.equal(stp, step_max) & (f <= ftest) & (dp <= gtest))
        warning = warning | (ops.equal(stp, zero) & ((f > ftest) | (dp >= gtest)))

        # dcstep, on the modified function psi in stage 1 while f is between psi's and f's
        # tests (the shift is exactly 0 otherwise, so f's values pass unchanged).
        modified = ops.equal(stage, 1) & (f <= iv.fx) & (f > ftest)
        shift = ops.where(modified, gtest, zero)
        shifted = Interval(
            iv.stx,
            iv.fx - iv.stx * shift,
            iv.gx - shift,
            iv.sty,
            iv.fy - iv.sty * shift,
            iv.gy - shift,
        )
        new, trial, bracketed = _step(
            shifted,
            stp,
            f - stp * shift,
            dp - shift,
            state.bracketed,
            state.low,
            state.high,
        )
        new = Interval(
            new.stx,
            new.fx + new.stx * shift,
            new.gx + shift,
            new.sty,
            new.fy + new.sty * shift,
            new.gy + shift,
        )
        # A non-finite trial: bracket there and bisect towards the best step.
        new = _ops.select(finite, new, iv._replace(sty=stp, fy=ops.cast(np.inf, dtype), gy=dp))
        bracketed = bracketed | ~finite
        trial = ops.where(finite, trial, iv.stx + 0.5 * (stp - iv.stx))
        moved_x = ops.not_equal(new.stx, iv.stx)
        # Bisect when two trials did not shrink the bracket by 0.66.
        span = ops.abs(new.sty - new.stx)
        trial = ops.where(
            bracketed & (span >= 0.66 * state.width1),
            new.stx + 0.5 * (new.sty - new.stx),
            trial,
        )
        width1 = ops.where(bracketed, state.width, state.width1)
        width = ops.where(bracketed, span, state.width)
        low = ops.where(bracketed, ops.minimum(new.stx, new.sty), trial + 1.1 * (trial - new.stx))
        high = ops.where(bracketed, ops.maximum(new.stx, new.sty), trial + 4.0 * (trial - new.stx))
        trial = ops.clip(trial, zero, step_max)
        stuck = bracketed & ((trial <= low) | (trial >= high) | (high - low <= xtol * high))
        trial = ops.where(stuck, new.stx, trial)
        # An interpolation that broke down (NaN, e.g. on a non-finite end) bisects the bracket,
        # or, unbracketed, ends the search as a warning.
        broken = ~ops.isfinite(trial)
        trial = ops.where(broken & bracketed, new.stx + 0.5 * (new.sty - new.stx), trial)
        warning = warning | (broken & ~bracketed)
        evaluations = state.evaluations + 1
        smallest = ops.minimum(state.smallest, stp)
        progress = _progress(f, g, f0, g0)
        # stx moved to this trial: its loss and gradient become the best ones. The loop's
        # only vector updates (g_best here, g unconditionally) take this one predicate, so the
        # compiled program does not repeat the scalar decisions below in every vector kernel.
        take = ops.equal(state.code, _RUNNING) & moved_x & finite
        g_best = ops.where(take, g, state.g_best)
        searched = MoreThuenteState(
            evaluations,
            state.limit,
            _int(_RUNNING),
            exact,
            trial,
            new,
            bracketed,
            ops.cast(stage, "int32"),
            low,
            high,
            width,
            width1,
            f,
            g,
            ops.where(take, f, state.f_best),
            g_best,
            ops.where(take, progress, state.best_moved),
            ops.convert_to_tensor(False),
            smallest,
        )
        # The search ends: at a Wolfe point; else (a dcsrch warning, or its budget spent) at
        # the best step if it has sufficient decrease; else the backtracking phase starts,
        # halving the smallest step tried, with a budget of its own.
        best_ok = (
            (new.stx > 0) & (searched.f_best <= f0 + c1 * new.stx * dphi0) & searched.best_moved
        )
        gives_up = warning | (evaluations >= state.limit)
        searched = _ops.select(
            exact | approximate,
            searched._replace(code=_int(_CONVERGED), step=stp),
            _ops.select(
                gives_up & best_ok,
                searched._replace(
                    code=_int(_FOUND), step=new.stx, at_best=ops.convert_to_tensor(True)
                ),
                _ops.select(
                    gives_up,
                    searched._replace(
                        code=_int(_BACKTRACK),
                        step=0.5 * smallest,
                        limit=evaluations + max_evaluations,
                    ),
                    searched,
                ),
            ),
        )
        # Backtracking (N&W Algorithm 3.1): sufficient decrease with progress, else halve.
        armijo = finite & (f <= ftest) & progress
        halved = 0.5 * stp
        backtracked = state._replace(evaluations=evaluations, f=f, g=g, step=halved)
        backtracked = _ops.select(
            armijo,
            backtracked._replace(code=_int(_FOUND), step=stp),
            _ops.select(
                (evaluations >= state.limit) | (halved <= 0),
                backtracked._replace(code=_int(_FAILED)),
                backtracked,
            ),
        )
        return _ops.select(ops.equal(state.code, _BACKTRACK), backtracked, searched)

    alpha0 = ops.cast(alpha0, dtype)
    width = step_max
    start = MoreThuenteState(
        evaluations=_int(0),
        limit=_int(max_evaluations),
        code=_int(_RUNNING),
        exact=ops.convert_to_tensor(False),
        step=alpha0,
        interval=Interval(zero, f0, dphi0, zero, f0, dphi0),
        bracketed=ops.convert_to_tensor(False),
        stage=_int(1),
        low=zero,
        high=alpha0 + 4.0 * alpha0,
        width=width,
        width1=2.0 * width,
        f=f0,
        g=g0,
        f_best=f0,
        g_best=g0,
        best_moved=ops.convert_to_tensor(False),
        at_best=ops.convert_to_tensor(False),
        smallest=ops.cast(np.inf, dtype),
    )
    state = _ops.while_loop(cond, body, start)
    failed = ops.equal(state.code, _FAILED)
    status = ops.where(
        ops.equal(state.code, _CONVERGED),
        ops.where(state.exact, WOLFE, APPROXIMATE_WOLFE),
        ops.where(failed, FAILED, ARMIJO),
    )
    alpha = ops.where(failed, zero, state.step)
    f, g = _ops.select(state.at_best, (state.f_best, state.g_best), (state.f, state.g))
    return LineSearchResult(
        alpha,
        ops.where(failed, f0, f),
        ops.where(failed, g0, g),
        state.evaluations,
        _int(status),
        ops.where(failed, x, x + alpha * d),
    )
