"""BFGS with a dense inverse-Hessian approximation. TensorFlow backend.

Nocedal & Wright, Numerical Optimization, 2nd ed., sec. 6.1 (Algorithm 6.1, update 6.17);
Goodfellow et al., Deep Learning, sec. 8.6.3. H_0 = I, as in SciPy's BFGS (N&W's rescaling
6.20 before the first update made the 1e4-conditioned quadratic of the tests take 4x more
iterations). The first trial step is 1 / ||g|| on the first iteration, 1 afterwards.
Memory O(n^2): models with more than `max_parameters` parameters are refused.
"""

import keras

from kerasopt._backend import tf
from kerasopt._docs import shared_docs
from kerasopt.second_order._core import C2_ARG, LINE_SEARCH_ARGS, STOPPING_ARGS, LineSearchOptimizer


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

        >>> import numpy as np, tensorflow as tf
        >>> import kerasopt.second_order as so
        >>> result = so.minimize(lambda w: tf.reduce_sum((w - 3.0) ** 2), np.zeros(2), method="bfgs")
        >>> result.converged, np.round(result.x, 6).tolist()
        (True, [3.0, 3.0])

    References:
        Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Algorithm 6.1.
    """

    def __init__(self, max_parameters=4096, name="bfgs", **kwargs):
        super().__init__(max_parameters=max_parameters, name=name, **kwargs)

    def create_state(self, n, dtype):
        return {"h": tf.Variable(tf.eye(n, dtype=dtype)), "count": tf.Variable(0)}

    def reset(self, state):
        state["h"].assign(tf.eye(tf.shape(state["h"])[0], dtype=state["h"].dtype))
        state["count"].assign(0)

    def direction(self, objective, state, g):
        d = -tf.linalg.matvec(state["h"], g)
        first = tf.equal(state["count"], 0)
        alpha0 = tf.where(first, 1.0 / tf.maximum(tf.norm(g), 1e-12), tf.ones([], g.dtype))
        return d, alpha0

    def update(self, state, s, y, d, g):
        sy = tf.reduce_sum(s * y)
        good = sy > 1e-10 * tf.norm(s) * tf.norm(y)

        def store():
            h = state["h"].read_value()
            rho = 1.0 / sy
            hy = tf.linalg.matvec(h, y)
            yhy = tf.reduce_sum(y * hy)
            # Expanded form of (I - rho s y^T) H (I - rho y s^T) + rho s s^T.
            h = (
                h
                - rho * (s[:, None] * hy[None, :] + hy[:, None] * s[None, :])
                + (rho * rho * yhy + rho) * s[:, None] * s[None, :]
            )
            state["h"].assign(h)
            state["count"].assign_add(1)
            return tf.constant(True)

        tf.cond(good, store, lambda: tf.constant(False))
