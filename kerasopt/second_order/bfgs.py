"""BFGS with a dense inverse-Hessian approximation. TensorFlow and JAX backends.

Nocedal & Wright, Numerical Optimization, 2nd ed., sec. 6.1 (Algorithm 6.1, update 6.17);
Goodfellow et al., Deep Learning, sec. 8.6.3. H_0 = I, as in SciPy's BFGS (N&W's rescaling
6.20 before the first update made the 1e4-conditioned quadratic of the tests take 4x more
iterations). The first trial step is 1 / ||g|| on the first iteration, 1 afterwards.
Memory O(n^2): models with more than `max_parameters` parameters are refused.
"""

import typing

import keras
from keras import ops

from kerasopt._docs import shared_docs
from kerasopt.second_order import _ops
from kerasopt.second_order._core import (
    C2_ARG,
    LINE_SEARCH_ARGS,
    STOPPING_ARGS,
    LineSearchOptimizer,
    norm,
)


@keras.saving.register_keras_serializable(package="kerasopt")
@shared_docs(stopping=STOPPING_ARGS, line_search=LINE_SEARCH_ARGS, c2=C2_ARG)
class BFGS(LineSearchOptimizer):
    """BFGS: H_{k+1} = (I - rho s y^T) H_k (I - rho y s^T) + rho s s^T, rho = 1 / y^T s.

    Args:
        max_parameters: the largest parameter count accepted (the n x n matrix); above it
            use `LBFGS` or `Newton(solver="cg")`.

    Curvature state: the inverse-Hessian matrix lives only for one `fit` / `minimize` call.
    A second `fit` on the same model, or a `fit` after `model.save` and
    `keras.models.load_model`, starts again from H_0 = I (its first step is along -g);
    `model.save` stores the configuration and the `iterations` counter, not the matrix.

    Keyword Args:
        {{stopping}}
        {{line_search}}
        {{c2}}

    Example:
        Through `minimize` (the same class drives `model.compile` + `fit`):

        >>> import numpy as np
        >>> from keras import ops
        >>> import kerasopt.second_order as so
        >>> result = so.minimize(lambda w: ops.sum((w - 3.0) ** 2), np.zeros(2), method="bfgs")
        >>> result.converged, np.round(result.x, 6).tolist()
        (True, [3.0, 3.0])

    References:
        Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Algorithm 6.1.
    """

    def __init__(self, max_parameters=4096, name="bfgs", **kwargs):
        super().__init__(max_parameters=max_parameters, name=name, **kwargs)

    def init_state(self, n, dtype):
        return BFGSState(h=ops.eye(n, dtype=dtype), count=ops.convert_to_tensor(0, "int32"))

    def reset(self, method_state):
        return self.init_state(method_state.h.shape[0], method_state.h.dtype)

    def direction(self, problem, state):
        g, memory = state.g, state.method
        d = -ops.matmul(memory.h, g)
        first = ops.equal(memory.count, 0)
        alpha0 = ops.where(first, 1.0 / ops.maximum(norm(g), 1e-12), ops.ones([], g.dtype))
        return d, alpha0, memory

    def update(self, method_state, s, y, d, g, accepted):
        sy = ops.sum(s * y)
        good = accepted & (sy > 1e-10 * norm(s) * norm(y))
        h = method_state.h
        rho = 1.0 / sy
        hy = ops.matmul(h, y)
        yhy = ops.sum(y * hy)
        # Expanded form of (I - rho s y^T) H (I - rho y s^T) + rho s s^T.
        h = (
            h
            - rho * (s[:, None] * hy[None, :] + hy[:, None] * s[None, :])
            + (rho * rho * yhy + rho) * s[:, None] * s[None, :]
        )
        return _ops.select(good, BFGSState(h, method_state.count + 1), method_state)


class BFGSState(typing.NamedTuple):
    """BFGS's curvature model (Nocedal & Wright, sec. 6.1)."""

    h: typing.Any  # (n, n) the inverse-Hessian approximation H_k (H_0 = I)
    count: typing.Any  # updates since the start or the last reset (int32)
