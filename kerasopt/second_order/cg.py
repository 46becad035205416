"""Nonlinear conjugate gradients. TensorFlow backend.

Nocedal & Wright, Numerical Optimization, 2nd ed., sec. 5.2: Fletcher-Reeves (eq. 5.41a),
Polak-Ribiere with the non-negative truncation PR+ (eq. 5.44/5.45), restarts every `restart`
iterations and Powell's restart test |g_k^T g_{k-1}| / ||g_k||^2 >= 0.1 (eq. 5.52);
Goodfellow et al., Deep Learning, sec. 8.6.2. Steps come from the shared strong-Wolfe line
search with c2 = 0.1 by default (N&W recommend c2 < 1/2 for CG); the first trial step is
N&W's interpolation (eq. 3.60).
"""

import keras

from kerasopt._backend import tf
from kerasopt._docs import shared_docs
from kerasopt._validation import check_choice, check_int
from kerasopt.second_order._core import (
    LINE_SEARCH_ARGS,
    STOPPING_ARGS,
    LineSearchOptimizer,
    first_step,
)


@keras.saving.register_keras_serializable(package="kerasopt")
@shared_docs(stopping=STOPPING_ARGS, line_search=LINE_SEARCH_ARGS)
class ConjugateGradient(LineSearchOptimizer):
    """Nonlinear conjugate gradients d_k = -g_k + beta_k d_{k-1}.

    Args:
        beta: "polak_ribiere" (PR+, beta = max(0, g_k^T (g_k - g_{k-1}) / ||g_{k-1}||^2)) or
            "fletcher_reeves" (beta = ||g_k||^2 / ||g_{k-1}||^2).
        restart: restart with steepest descent every `restart` iterations; None means every
            n iterations (n = number of parameters). Powell's test restarts in between.
        c2: curvature constant of the line search (default 0.1); a tiny value (1e-10) makes
            it an exact line search.
        ftol: relative-loss-change stop; default 0 (off), as in SciPy's CG, which stops on
            the gradient test alone. With L-BFGS-B's 2.2e-9 it stopped 100-D Rosenbrock
            (from the standard start) at a max error of 4.3e-4 after a short step, where
            SciPy's CG reaches 2.3e-5; with the gradient test alone it reaches 9e-8.

    Keyword Args:
        gtol: stop when the gradient's infinity norm is at most this (default 1e-5).
        {{line_search}}

    Example:
        Through `minimize` (the same class drives `model.compile` + `fit`):

        >>> import numpy as np, tensorflow as tf
        >>> import kerasopt.second_order as so
        >>> result = so.minimize(lambda w: tf.reduce_sum((w - 3.0) ** 2), np.zeros(2), method="cg")
        >>> result.converged, np.round(result.x, 6).tolist()
        (True, [3.0, 3.0])

    References:
        Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, sec. 5.2.
    """

    def __init__(
        self,
        beta="polak_ribiere",
        restart=None,
        c2=0.1,
        ftol=0.0,
        name="conjugate_gradient",
        **kwargs,
    ):
        super().__init__(c2=c2, ftol=ftol, name=name, **kwargs)
        self.beta = check_choice("beta", beta, ("polak_ribiere", "fletcher_reeves"))
        self.restart = None if restart is None else check_int("restart", restart, 1)

    def get_config(self):
        config = super().get_config()
        config.update({"beta": self.beta, "restart": self.restart})
        return config

    def create_state(self, n, dtype):
        return {
            "d": tf.Variable(tf.zeros([n], dtype)),
            "g_old": tf.Variable(tf.zeros([n], dtype)),
            "since_restart": tf.Variable(0),
            "period": tf.constant(self.restart or n),
        }

    def reset(self, state):
        state["since_restart"].assign(0)

    def direction(self, objective, state, g):
        g_old = state["g_old"].read_value()
        gg_old = tf.reduce_sum(g_old * g_old)
        if self.beta == "fletcher_reeves":
            beta = tf.reduce_sum(g * g) / gg_old
        else:
            beta = tf.maximum(tf.reduce_sum(g * (g - g_old)) / gg_old, 0.0)
        powell = tf.abs(tf.reduce_sum(g * g_old)) >= 0.1 * tf.reduce_sum(g * g)
        restart = (
            tf.equal(state["since_restart"], 0)
            | (state["since_restart"] >= state["period"])
            | powell
            | ~tf.math.is_finite(beta)
        )
        d = tf.where(restart, -g, -g + beta * state["d"])
        state["since_restart"].assign(tf.where(restart, 0, state["since_restart"]))
        return d, first_step(state, tf.reduce_sum(g * d))

    def update(self, state, s, y, d, g):
        state["d"].assign(d)
        state["g_old"].assign(g)
        state["since_restart"].assign_add(1)
