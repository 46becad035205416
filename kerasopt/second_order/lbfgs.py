"""Limited-memory BFGS (L-BFGS). TensorFlow backend.

Nocedal & Wright, Numerical Optimization, 2nd ed., sec. 7.2 (Algorithm 7.4, the two-loop
recursion, and Algorithm 7.5); Liu & Nocedal 1989; Goodfellow et al., Deep Learning, sec.
8.6.3. The inverse Hessian is represented by the last `history` curvature pairs
(s_k = x_{k+1} - x_k, y_k = g_{k+1} - g_k) and the scaling gamma_k = s^T y / y^T y of the
newest pair (eq. 7.20); steps come from the shared strong-Wolfe line search.
"""

import keras
import tensorflow as tf

from kerasopt._docs import shared_docs
from kerasopt._validation import check_int
from kerasopt.second_order._core import C2_ARG, LINE_SEARCH_ARGS, STOPPING_ARGS, LineSearchOptimizer


@keras.saving.register_keras_serializable(package="kerasopt")
@shared_docs(stopping=STOPPING_ARGS, line_search=LINE_SEARCH_ARGS, c2=C2_ARG)
class LBFGS(LineSearchOptimizer):
    """L-BFGS with the two-loop recursion (Nocedal & Wright, Algorithm 7.4).

    Use with `model.compile(optimizer=LBFGS())` and `kerasopt.second_order.fit`, or through
    `kerasopt.second_order.minimize(..., method="lbfgs")`. Memory O(history * n).

    Args:
        history: number of curvature pairs kept (m).
        {{c2}}

    Keyword Args:
        {{stopping}}
        {{line_search}}

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

    References:
        Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Algorithm 7.4; Liu & Nocedal,
        "On the limited memory BFGS method for large scale optimization", Math. Prog. 45, 1989.
    """

    def __init__(self, history=10, c2=0.9, name="lbfgs", **kwargs):
        super().__init__(c2=c2, name=name, **kwargs)
        self.history = check_int("history", history, 1)

    def get_config(self):
        config = super().get_config()
        config["history"] = self.history
        return config

    def create_state(self, n, dtype):
        m = self.history
        return {"s": tf.Variable(tf.zeros([m, n], dtype)), "y": tf.Variable(tf.zeros([m, n], dtype)),
                "rho": tf.Variable(tf.zeros([m], dtype)), "gamma": tf.Variable(tf.ones([], dtype)),
                "count": tf.Variable(0)}

    def reset(self, state):
        state["rho"].assign(tf.zeros_like(state["rho"]))
        state["gamma"].assign(tf.ones_like(state["gamma"]))
        state["count"].assign(0)

    def direction(self, objective, state, g):
        s, y, rho = state["s"], state["y"], state["rho"]
        q = g
        alphas = [None] * self.history
        # Pairs are stored oldest first; unused slots have rho = 0 and contribute nothing.
        for i in reversed(range(self.history)):
            alphas[i] = rho[i] * tf.reduce_sum(s[i] * q)
            q = q - alphas[i] * y[i]
        r = state["gamma"] * q
        for i in range(self.history):
            beta = rho[i] * tf.reduce_sum(y[i] * r)
            r = r + s[i] * (alphas[i] - beta)
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
