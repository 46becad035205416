"""Saddle-free Newton. TensorFlow and JAX backends; dense, for small models.

Dauphin et al. 2014, "Identifying and attacking the saddle point problem in high-dimensional
non-convex optimization": the step p = -(|H| + lambda I)^{-1} g, where |H| = V |Lambda| V^T
replaces every eigenvalue by its absolute value. Directions of negative curvature are then
followed downhill instead of toward the saddle (Goodfellow et al., Deep Learning, sec. 8.2.3
and 8.6.1). The Hessian is formed from n Hessian-vector products and eigendecomposed each
iteration (O(n^3)), so models above `max_parameters` are refused. The step length comes from
the shared strong-Wolfe line search starting at 1.
"""

import keras
from keras import ops

from kerasopt._docs import shared_docs
from kerasopt._validation import check_range
from kerasopt.second_order._core import C2_ARG, LINE_SEARCH_ARGS, STOPPING_ARGS, LineSearchOptimizer
from kerasopt.second_order.newton import eigen_solve


@keras.saving.register_keras_serializable(package="kerasopt")
@shared_docs(stopping=STOPPING_ARGS, line_search=LINE_SEARCH_ARGS, c2=C2_ARG)
class SaddleFreeNewton(LineSearchOptimizer):
    """Saddle-free Newton p = -(|H| + damping I)^{-1} g.

    Args:
        damping: lambda > 0 added to |H| (keeps the step finite where H is singular).
        max_parameters: the largest parameter count accepted (dense eigendecomposition).

    Keyword Args:
        {{stopping}}
        {{line_search}}
        {{c2}}

    Example:
        On f = x^2 - y^2 + y^4 / 2 Newton's method is attracted by the saddle at the origin;
        saddle-free Newton steps with |H| and reaches a minimum, y = +-1:

        >>> import numpy as np
        >>> import kerasopt.second_order as so
        >>> f = lambda w: w[0] ** 2 - w[1] ** 2 + w[1] ** 4 / 2
        >>> result = so.minimize(f, np.array([0.5, 0.1]), method="saddle_free_newton")
        >>> np.round(np.abs(result.x), 4).tolist()
        [0.0, 1.0]

    References:
        Dauphin et al., "Identifying and attacking the saddle point problem in high-dimensional
        non-convex optimization", NeurIPS 2014.
    """

    def __init__(self, damping=1e-3, max_parameters=2000, name="saddle_free_newton", **kwargs):
        super().__init__(max_parameters=max_parameters, name=name, **kwargs)
        self.damping = check_range("damping", damping, low=0, low_inclusive=False)

    def get_config(self):
        config = super().get_config()
        config["damping"] = self.damping
        return config

    def direction(self, problem, state):
        eigenvalues, eigenvectors = ops.eigh(problem.hessian(state.x))
        g = state.g
        p, _ = eigen_solve(ops.abs(eigenvalues), eigenvectors, g, ops.cast(self.damping, g.dtype))
        return p, ops.ones([], g.dtype), state.method
