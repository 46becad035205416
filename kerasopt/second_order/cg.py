"""Nonlinear conjugate gradients. TensorFlow and JAX backends.

Nocedal & Wright, Numerical Optimization, 2nd ed., sec. 5.2: Fletcher-Reeves (eq. 5.41a),
Polak-Ribiere with the non-negative truncation PR+ (eq. 5.44/5.45), restarts every `restart`
iterations and Powell's restart test |g_k^T g_{k-1}| / ||g_k||^2 >= 0.1 (eq. 5.52);
Goodfellow et al., Deep Learning, sec. 8.6.2. Steps come from the shared strong-Wolfe line
search with c2 = 0.1 by default (N&W recommend c2 < 1/2 for CG); the first trial step is
N&W's interpolation (eq. 3.60).
"""

import typing

import keras
from keras import ops

from kerasopt._docs import shared_docs
from kerasopt._validation import check_choice, check_int
from kerasopt.second_order import _ops
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

        >>> import numpy as np
        >>> from keras import ops
        >>> import kerasopt.second_order as so
        >>> result = so.minimize(lambda w: ops.sum((w - 3.0) ** 2), np.zeros(2), method="cg")
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

    def init_state(self, n, dtype):
        return CGState(
            d=ops.zeros([n], dtype),
            g_old=ops.zeros([n], dtype),
            since_restart=ops.convert_to_tensor(0, "int32"),
        )

    def reset(self, method_state):
        return method_state._replace(since_restart=ops.zeros_like(method_state.since_restart))

    def direction(self, problem, state):
        g, memory = state.g, state.method
        g_old = memory.g_old
        gg_old = ops.sum(g_old * g_old)
        if self.beta == "fletcher_reeves":
            beta = ops.sum(g * g) / gg_old
        else:
            beta = ops.maximum(ops.sum(g * (g - g_old)) / gg_old, 0.0)
        powell = ops.abs(ops.sum(g * g_old)) >= 0.1 * ops.sum(g * g)
        since = memory.since_restart
        restart = (
            ops.equal(since, 0)
            | (since >= (self.restart or g.shape[0]))
            | powell
            | ~ops.isfinite(beta)
        )
        d = ops.where(restart, -g, -g + beta * memory.d)
        memory = memory._replace(since_restart=ops.cast(ops.where(restart, 0, since), "int32"))
        return d, first_step(state, ops.sum(g * d)), memory

    def update(self, method_state, s, y, d, g, accepted):
        moved = CGState(d=d, g_old=g, since_restart=method_state.since_restart + 1)
        return _ops.select(accepted, moved, method_state)


class CGState(typing.NamedTuple):
    """Nonlinear CG's memory (Nocedal & Wright, sec. 5.2)."""

    d: typing.Any  # the previous search direction d_{k-1}
    g_old: typing.Any  # the previous gradient g_{k-1}
    since_restart: typing.Any  # iterations since the last steepest-descent restart (int32)
