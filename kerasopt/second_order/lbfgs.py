"""Limited-memory BFGS (L-BFGS). TensorFlow and JAX backends.

Nocedal & Wright, Numerical Optimization, 2nd ed., sec. 7.2 (Algorithm 7.4, the two-loop
recursion, and Algorithm 7.5); Liu & Nocedal 1989; Goodfellow et al., Deep Learning, sec.
8.6.3. The inverse Hessian is represented by the last `history` curvature pairs
(s_k = x_{k+1} - x_k, y_k = g_{k+1} - g_k) and the scaling gamma_k = s^T y / y^T y of the
newest pair (eq. 7.20); steps come from the shared strong-Wolfe line search.

With box bounds l <= x <= u it becomes a projected quasi-Newton method in the manner of
L-BFGS-B (Byrd, Lu, Nocedal & Zhu, "A limited memory algorithm for bound constrained
optimization", SIAM J. Sci. Comput. 16(5), 1995): the variables held at a bound by the
gradient are fixed, the two-loop direction is taken on the free variables only, and the
step follows the projected path P(x + alpha d) with a backtracking sufficient-decrease search
(Bertsekas 1982; Kim, Sra & Dhillon, "Tackling box-constrained optimization via a new
projected quasi-Newton approach", SIAM J. Sci. Comput. 32(6), 2010). L-BFGS-B itself finds a
generalized Cauchy point and minimizes over the free subspace; this variant reaches the same
minimizers and active sets (tested against SciPy's L-BFGS-B) with simpler in-graph steps.
"""

import typing

import keras
from keras import ops

from kerasopt._docs import shared_docs
from kerasopt._validation import check_int
from kerasopt.second_order import _ops, line_search, more_thuente
from kerasopt.second_order._core import (
    C2_ARG,
    LINE_SEARCH_ARGS,
    STOPPING_ARGS,
    LineSearchOptimizer,
    descent_or_steepest,
    norm,
)


@keras.saving.register_keras_serializable(package="kerasopt")
@shared_docs(stopping=STOPPING_ARGS, line_search=LINE_SEARCH_ARGS, c2=C2_ARG)
class LBFGS(LineSearchOptimizer):
    """L-BFGS with the two-loop recursion (Nocedal & Wright, Algorithm 7.4).

    Use with `model.compile(optimizer=LBFGS())` and `kerasopt.second_order.fit`, or through
    `kerasopt.second_order.minimize(..., method="lbfgs")`. Memory O(history * n).

    Args:
        history: number of curvature pairs kept (m).
        bounds: None, or a `(lower, upper)` pair of numbers (either may be None: unbounded)
            confining every parameter to [lower, upper]; `minimize(..., bounds=)` also takes
            per-coordinate bounds. Bounded, the iteration is the projected variant described
            in the module docstring: variables at a bound whose gradient pushes outward are
            held, the two-loop direction uses the free ones, the step backtracks along the
            projected path (the Wolfe curvature test does not apply there), and `gtol` tests
            the projected gradient ||P(x - g) - x||_inf, as L-BFGS-B's `pgtol` does.
        {{c2}}

    Keyword Args:
        {{stopping}}
        {{line_search}}

    Curvature state: the history of (s, y) pairs lives only for one `fit` / `minimize`
    call. A second `fit` on the same model, or a `fit` after `model.save` and
    `keras.models.load_model`, starts with an empty history (its first step is the scaled
    steepest-descent step of a fresh optimizer); `model.save` stores the configuration and
    the `iterations` counter, not the pairs.

    Example:
        Least squares y = 2x + 1 fit by full-batch L-BFGS through `kerasopt.second_order.fit`:

        >>> import keras, numpy as np
        >>> import kerasopt.second_order as so
        >>> x = np.linspace(-1, 1, 32).reshape(-1, 1).astype("float32")
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=so.LBFGS(), loss="mse")
        >>> history = so.fit(model, x, 2 * x + 1, max_iterations=50, verbose=0)
        >>> history.convergence.converged, [round(w.item(), 3) for w in model.layers[0].get_weights()]
        (True, [2.0, 1.0])

        With bounds:

        >>> from kerasopt.second_order import LBFGS, fit
        >>> x = np.linspace(-1, 1, 32, dtype="float32")[:, None]
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=LBFGS(bounds=(-0.5, 0.5)), loss="mse")
        >>> history = fit(model, x, 3 * x + 0.25, max_iterations=50, verbose=0)
        >>> np.round(model.get_weights()[0].ravel(), 4).tolist()  # the slope stops at its bound
        [0.5]

    References:
        Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Algorithm 7.4; Liu & Nocedal,
        "On the limited memory BFGS method for large scale optimization", Math. Prog. 45, 1989.
    """

    supports_bounds = True
    line_search_fn = staticmethod(more_thuente.search)

    def __init__(self, history=10, c2=0.9, bounds=None, name="lbfgs", **kwargs):
        super().__init__(c2=c2, name=name, **kwargs)
        self.history = check_int("history", history, 1)
        self.bounds = None if bounds is None else _check_scalar_bounds(bounds)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"history": self.history, "bounds": None if self.bounds is None else list(self.bounds)}
        )
        return config

    def step(self, problem, state):
        if not problem.bounded:
            return super().step(problem, state)
        x, g = state.x, state.g
        held = ((x <= problem.lower) & (g > 0)) | ((x >= problem.upper) & (g < 0))  # at its bound
        free = ops.cast(~held, g.dtype)
        d, alpha0 = two_loop(state.method, g * free)
        d, alpha0 = descent_or_steepest(g * free, d * free, alpha0)
        ls = line_search.projected_backtracking(
            problem.value_and_gradient,
            x,
            state.f,
            g,
            d,
            alpha0,
            problem.lower,
            problem.upper,
            self.c1,
            self.max_line_search_evaluations,
        )
        return self.commit(state, ls, ls.x - x, d)

    def init_state(self, n, dtype):
        m = self.history
        return LBFGSState(
            s=ops.zeros([m, n], dtype),
            y=ops.zeros([m, n], dtype),
            rho=ops.zeros([m], dtype),
            gamma=ops.ones([], dtype),
            count=ops.convert_to_tensor(0, "int32"),
        )

    def reset(self, method_state):
        return method_state._replace(
            rho=ops.zeros_like(method_state.rho),
            gamma=ops.ones_like(method_state.gamma),
            count=ops.zeros_like(method_state.count),
        )

    def direction(self, problem, state):
        d, alpha0 = two_loop(state.method, state.g)
        return d, alpha0, state.method

    def update(self, method_state, s, y, d, g, accepted):
        sy = ops.sum(s * y)
        # Keep only pairs with positive curvature (guaranteed by the Wolfe conditions up to
        # rounding), so the implicit inverse Hessian stays positive definite.
        good = accepted & (sy > 1e-10 * norm(s) * norm(y))
        # The pair goes to the ring's next row (replacing the oldest pair once the ring is
        # full); a rejected pair rewrites that row with its own contents.
        m = method_state.rho.shape[0]
        row = method_state.count % m
        memory = {}
        for name, new in (("s", s), ("y", y)):
            old = getattr(method_state, name)
            memory[name] = _ops.set_row(old, row, ops.where(good, new, old[row]))
        in_row = ops.equal(ops.arange(m, dtype="int32"), row)
        return LBFGSState(
            rho=ops.where(good & in_row, 1.0 / sy, method_state.rho),
            gamma=ops.where(good, sy / ops.sum(y * y), method_state.gamma),
            count=method_state.count + ops.cast(good, "int32"),
            **memory,
        )


class LBFGSState(typing.NamedTuple):
    """L-BFGS's curvature memory (Nocedal & Wright, sec. 7.2), a ring of `m` pairs: pair k
    (counted from the start or the last reset) is row k mod m, so storing a pair writes one
    row and the two-loop recursion reads the rows newest first from row (count - 1) mod m."""

    s: typing.Any  # (m, n) steps s_k = x_{k+1} - x_k (unused rows: rho = 0)
    y: typing.Any  # (m, n) gradient changes y_k = g_{k+1} - g_k, paired with `s` by row
    rho: typing.Any  # (m,) 1 / (s_k^T y_k); 0 marks an empty slot
    gamma: typing.Any  # the initial inverse-Hessian scale s^T y / y^T y of the newest pair
    count: typing.Any  # pairs stored since the start or the last reset (int32)


def two_loop(memory, g):
    """The two-loop recursion (Nocedal & Wright, Algorithm 7.4): (-H g, first trial step),
    H the L-BFGS inverse Hessian of `memory` (an `LBFGSState`); the first trial step is
    1 / ||g|| before any pair is stored, else 1.

    The loops run as loops (`_ops.while_loop`), not unrolled: an unrolled history of 10
    doubled the time to trace and optimize the compiled iteration. The pairs form a ring
    (`LBFGSState`): the i-th newest is row (count - 1 - i) mod m; unused rows have rho = 0
    and contribute nothing."""
    s, y, rho = memory.s, memory.y, memory.rho
    m = s.shape[0]
    slots = ops.arange(m, dtype="int32")
    newest = memory.count - 1 + m  # + m keeps the row indices below non-negative

    class Loop(typing.NamedTuple):
        i: typing.Any  # loop counter
        q: typing.Any  # the vector being transformed
        alphas: typing.Any  # (m,) the first loop's coefficients, by slot

    def newest_first(loop):
        j = (newest - loop.i) % m
        alpha = rho[j] * ops.sum(s[j] * loop.q)
        alphas = ops.where(ops.equal(slots, j), alpha, loop.alphas)
        return Loop(loop.i + 1, loop.q - alpha * y[j], alphas)

    def oldest_first(loop):
        j = (newest + 1 + loop.i) % m
        beta = rho[j] * ops.sum(y[j] * loop.q)
        return loop._replace(i=loop.i + 1, q=loop.q + s[j] * (loop.alphas[j] - beta))

    zero = ops.convert_to_tensor(0, "int32")
    first = _ops.while_loop(lambda lp: lp.i < m, newest_first, Loop(zero, g, ops.zeros_like(rho)))
    second = _ops.while_loop(
        lambda lp: lp.i < m, oldest_first, Loop(zero, memory.gamma * first.q, first.alphas)
    )
    alpha0 = ops.where(
        ops.equal(memory.count, 0), 1.0 / ops.maximum(norm(g), 1e-12), ops.ones([], g.dtype)
    )
    return -second.q, alpha0


def _check_scalar_bounds(bounds):
    """(lower, upper) of numbers or None with lower <= upper, else a ValueError naming `bounds`."""
    ok = (
        isinstance(bounds, (tuple, list))
        and len(bounds) == 2
        and all(
            b is None or (isinstance(b, (int, float)) and not isinstance(b, bool)) for b in bounds
        )
    )
    if ok and None not in bounds:
        ok = bounds[0] <= bounds[1]
    if not ok:
        raise ValueError(
            "Argument `bounds` must be None or a (lower, upper) pair of numbers (None: unbounded) "
            f"with lower <= upper. Received: bounds={bounds!r}"
        )
    return tuple(None if b is None else float(b) for b in bounds)
