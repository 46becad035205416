"""Limited-memory BFGS (L-BFGS). TensorFlow backend.

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

import keras

from kerasopt._backend import tf
from kerasopt._docs import shared_docs
from kerasopt._validation import check_int
from kerasopt.second_order import line_search
from kerasopt.second_order._core import C2_ARG, LINE_SEARCH_ARGS, STOPPING_ARGS, LineSearchOptimizer


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

    def step(self, objective, state):
        if "lower" not in state:
            return super().step(objective, state)
        x, f, g = state["x"].read_value(), state["f"].read_value(), state["g"].read_value()
        lower, upper = state["lower"].read_value(), state["upper"].read_value()
        held = ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))  # pushed against its bound
        free = tf.cast(~held, g.dtype)
        d, alpha0 = self.direction(objective, state, g * free)
        d = d * free
        slope = tf.reduce_sum(g * d)
        descent = tf.math.is_finite(slope) & (slope < 0) & tf.reduce_all(tf.math.is_finite(d))
        d = tf.where(descent, d, -g * free)
        alpha0 = tf.where(descent, alpha0, 1.0 / tf.maximum(tf.norm(g * free), 1e-12))
        ls = line_search.projected_backtracking(
            objective.value_and_gradient,
            x,
            f,
            g,
            d,
            alpha0,
            lower,
            upper,
            self.c1,
            self.max_line_search_evaluations,
        )
        return self.commit(objective, state, ls, ls["x"], ls["x"] - x, f, g, d)

    def create_state(self, n, dtype):
        m = self.history
        return {
            "s": tf.Variable(tf.zeros([m, n], dtype)),
            "y": tf.Variable(tf.zeros([m, n], dtype)),
            "rho": tf.Variable(tf.zeros([m], dtype)),
            "gamma": tf.Variable(tf.ones([], dtype)),
            "count": tf.Variable(0),
        }

    def reset(self, state):
        state["rho"].assign(tf.zeros_like(state["rho"]))
        state["gamma"].assign(tf.ones_like(state["gamma"]))
        state["count"].assign(0)

    def direction(self, objective, state, g):
        s, y, rho = state["s"].read_value(), state["y"].read_value(), state["rho"].read_value()
        m = self.history
        # The two loops as tf.while_loops (not unrolled: an unrolled history of 10 doubled the
        # time to trace and optimize the compiled iteration). Pairs are stored oldest first;
        # unused slots have rho = 0 and contribute nothing.

        def newest_first(i, q, alphas):
            j = m - 1 - i
            alpha = rho[j] * tf.reduce_sum(s[j] * q)
            return i + 1, q - alpha * y[j], alphas.write(j, alpha)

        _, q, alphas = tf.while_loop(
            lambda i, *_: i < m, newest_first, (tf.constant(0), g, tf.TensorArray(g.dtype, size=m))
        )
        alphas = alphas.stack()

        def oldest_first(i, r):
            beta = rho[i] * tf.reduce_sum(y[i] * r)
            return i + 1, r + s[i] * (alphas[i] - beta)

        _, r = tf.while_loop(lambda i, _: i < m, oldest_first, (tf.constant(0), state["gamma"] * q))
        first = tf.equal(state["count"], 0)
        alpha0 = tf.where(first, 1.0 / tf.maximum(tf.norm(g), 1e-12), tf.ones([], g.dtype))
        return -r, alpha0

    def update(self, state, s, y, d, g):
        sy = tf.reduce_sum(s * y)
        yy = tf.reduce_sum(y * y)
        # Keep only pairs with positive curvature (guaranteed by the Wolfe conditions up to
        # rounding), so the implicit inverse Hessian stays positive definite.
        good = sy > 1e-10 * tf.norm(s) * tf.norm(y)

        def store():
            state["s"].assign(tf.concat([state["s"][1:], s[None]], 0))
            state["y"].assign(tf.concat([state["y"][1:], y[None]], 0))
            state["rho"].assign(tf.concat([state["rho"][1:], [1.0 / sy]], 0))
            state["gamma"].assign(sy / yy)
            state["count"].assign_add(1)
            return tf.constant(True)

        tf.cond(good, store, lambda: tf.constant(False))


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
