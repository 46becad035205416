"""Newton's method with Levenberg-Marquardt damping: dense, or Newton-CG. TensorFlow backend.

The step p solves (H + lambda I) p = -g (Goodfellow et al., Deep Learning, sec. 8.6.1:
Newton's method and its regularization H + alpha I; Levenberg 1944, Marquardt 1963).

- solver="dense": the Hessian is formed from n Hessian-vector products
  (`kerasopt.diagnostics.hessian_vector_product`) and eigendecomposed once per iteration, so
  every damping trial is a cheap diagonal solve. Refused above `max_parameters`.
- solver="cg": Newton-CG (truncated Newton, Nocedal & Wright, Numerical Optimization, 2nd ed.,
  Algorithm 7.1): conjugate gradients on (H + lambda I) p = -g using Hessian-vector products
  only, stopped at relative residual min(0.5, sqrt(||g||)) (eq. 7.3) or at negative
  curvature (then the last iterate, or -g on the first CG iteration).

adaptive_damping=True is the Levenberg-Marquardt trust-region loop (Nielsen's update, Madsen,
Nielsen & Tingleff 2004, "Methods for non-linear least squares problems", sec. 3.2): a trial
step is accepted when it lowers the loss; with gain ratio rho = actual / predicted reduction,
lambda <- lambda * max(1/3, 1 - (2 rho - 1)^3) after an accepted step; after a rejected one
lambda <- max(lambda, 1e-8) * nu and nu doubles. Like undamped Newton it is attracted to saddle
points where stepping toward them lowers the loss (see `SaddleFreeNewton`).
adaptive_damping=False keeps lambda fixed and takes the step length from the shared
strong-Wolfe line search along p (steepest descent if p is not a descent direction).
"""

import keras

from kerasopt._backend import tf
from kerasopt._docs import shared_docs
from kerasopt._validation import check_bool, check_choice, check_int, check_range
from kerasopt.second_order import line_search
from kerasopt.second_order._core import C2_ARG, LINE_SEARCH_ARGS, STOPPING_ARGS, LineSearchOptimizer


def eigen_solve(eigenvalues, eigenvectors, g, shift):
    """-V diag(1 / (eigenvalues + shift)) V^T g, and p^T H p for the undamped eigenvalues."""
    coeff = -tf.linalg.matvec(eigenvectors, g, transpose_a=True) / (eigenvalues + shift)
    return tf.linalg.matvec(eigenvectors, coeff), tf.reduce_sum(eigenvalues * coeff * coeff)


@keras.saving.register_keras_serializable(package="kerasopt")
@shared_docs(stopping=STOPPING_ARGS, line_search=LINE_SEARCH_ARGS, c2=C2_ARG)
class Newton(LineSearchOptimizer):
    """Damped Newton (Levenberg-Marquardt), dense or Newton-CG.

    Args:
        damping: initial (or, if not adaptive, fixed) lambda >= 0 in (H + lambda I) p = -g.
        adaptive_damping: Levenberg-Marquardt accept/reject loop adapting lambda (True) or a
            fixed lambda with the strong-Wolfe line search (False).
        solver: "dense" (Hessian eigendecomposition; at most `max_parameters` parameters) or
            "cg" (Newton-CG with Hessian-vector products; no parameter limit).
        max_parameters: the dense solver's parameter limit.
        cg_max_iterations: inner CG iterations (None: the number of parameters).
        max_damping_trials: trial steps per iteration in the adaptive loop.

    Keyword Args:
        {{stopping}}
        {{line_search}}
        {{c2}}

    Example:
        Through `minimize` (the same class drives `model.compile` + `fit`):

        >>> import numpy as np, tensorflow as tf
        >>> import kerasopt.second_order as so
        >>> result = so.minimize(lambda w: tf.reduce_sum((w - 3.0) ** 2), np.zeros(2), method="newton")
        >>> result.converged, np.round(result.x, 6).tolist()
        (True, [3.0, 3.0])

    References:
        Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, sec. 3.4, 7.1 and 10.3
        (Levenberg-Marquardt).
    """

    def __init__(
        self,
        damping=1e-3,
        adaptive_damping=True,
        solver="dense",
        max_parameters=2000,
        cg_max_iterations=None,
        max_damping_trials=30,
        name="newton",
        **kwargs,
    ):
        super().__init__(max_parameters=max_parameters, name=name, **kwargs)
        self.solver = check_choice("solver", solver, ("dense", "cg"))
        self.damping = check_range("damping", damping, low=0)
        self.adaptive_damping = check_bool("adaptive_damping", adaptive_damping)
        self.cg_max_iterations = (
            None
            if cg_max_iterations is None
            else check_int("cg_max_iterations", cg_max_iterations, 1)
        )
        self.max_damping_trials = check_int("max_damping_trials", max_damping_trials, 1)
        self._max_parameters_hint = '(solver="dense")'

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "damping": self.damping,
                "adaptive_damping": self.adaptive_damping,
                "solver": self.solver,
                "cg_max_iterations": self.cg_max_iterations,
                "max_damping_trials": self.max_damping_trials,
            }
        )
        return config

    def check_size(self, n):
        if self.solver == "dense":
            super().check_size(n)

    def create_state(self, n, dtype):
        return {
            "damping": tf.Variable(tf.constant(self.damping, dtype)),
            "nu": tf.Variable(tf.constant(2.0, dtype)),
        }

    def _cg_solve(self, objective, g, shift):
        """Truncated CG on (H + shift I) p = -g (N&W Algorithm 7.1); returns (p, p^T H p)."""
        n = objective.size
        gnorm = tf.norm(g)
        tol = tf.minimum(tf.sqrt(gnorm), 0.5) * gnorm
        max_iter = self.cg_max_iterations or n

        def cond(j, z, r, d, done):
            return ~done & (j < max_iter)

        def body(j, z, r, d, done):
            bd = objective.hessian_vector(d) + shift * d
            dbd = tf.reduce_sum(d * bd)
            negative = ~(dbd > 0)
            rr = tf.reduce_sum(r * r)
            a = rr / dbd
            z_new = z + a * d
            r_new = r + a * bd
            converged = tf.norm(r_new) < tol
            beta = tf.reduce_sum(r_new * r_new) / rr
            z_out = tf.where(negative, tf.where(tf.equal(j, 0), -g, z), z_new)
            return j + 1, z_out, r_new, -r_new + beta * d, negative | converged

        _, p, _, _, _ = tf.while_loop(
            cond, body, (tf.constant(0), tf.zeros_like(g), g, -g, tf.constant(False))
        )
        return p, tf.reduce_sum(p * objective.hessian_vector(p))

    def _solver(self, objective, g):
        """A function shift -> (p, p^T H p) at the current point."""
        if self.solver == "dense":
            eigenvalues, eigenvectors = tf.linalg.eigh(objective.hessian())
            return lambda shift: eigen_solve(eigenvalues, eigenvectors, g, shift)
        return lambda shift: self._cg_solve(objective, g, shift)

    def direction(self, objective, state, g):
        p, _ = self._solver(objective, g)(state["damping"])
        return p, tf.ones([], g.dtype)

    def step(self, objective, state):
        if not self.adaptive_damping:
            return super().step(objective, state)
        x, f, g = state["x"].read_value(), state["f"].read_value(), state["g"].read_value()
        solve = self._solver(objective, g)
        dtype = x.dtype

        def cond(i, lam, nu, accepted, x_new, f_new, g_new):
            return ~accepted & (i < self.max_damping_trials)

        def body(i, lam, nu, accepted, x_new, f_new, g_new):
            with tf.control_dependencies(objective.assign(x)):
                p, php = solve(lam)
            predicted = -(tf.reduce_sum(g * p) + 0.5 * php)
            f_t, g_t = objective.value_and_gradient(x + p)
            ok = (
                tf.math.is_finite(f_t)
                & tf.reduce_all(tf.math.is_finite(g_t))
                & tf.reduce_all(tf.math.is_finite(p))
                & (f_t < f)
            )
            gain = (f - f_t) / predicted
            lam_ok = tf.where(
                predicted > 0, lam * tf.maximum(1.0 - (2.0 * gain - 1.0) ** 3, 1.0 / 3.0), lam / 3.0
            )
            lam = tf.where(ok, lam_ok, tf.maximum(lam, tf.constant(1e-8, dtype)) * nu)
            nu = tf.where(ok, tf.constant(2.0, dtype), 2.0 * nu)
            return (
                i + 1,
                lam,
                nu,
                ok,
                tf.where(ok, x + p, x_new),
                tf.where(ok, f_t, f_new),
                tf.where(ok, g_t, g_new),
            )

        trials, lam, nu, accepted, x_new, f_new, g_new = tf.while_loop(
            cond,
            body,
            (
                tf.constant(0),
                state["damping"].read_value(),
                state["nu"].read_value(),
                tf.constant(False),
                x,
                f,
                g,
            ),
        )
        state["damping"].assign(lam)
        state["nu"].assign(nu)
        state["f_prev"].assign(tf.where(accepted, f, state["f_prev"]))
        state["x"].assign(x_new)
        state["f"].assign(f_new)
        state["g"].assign(g_new)
        with tf.control_dependencies([state["x"].read_value()]):
            objective.assign(state["x"].read_value())
        return {
            "evaluations": trials,
            "status": tf.where(accepted, line_search.WOLFE, line_search.FAILED),
        }

    def reset(self, state):
        state["nu"].assign(2.0)

    def start_state(self, state):
        state["damping"].assign(tf.constant(self.damping, state["damping"].dtype))
        self.reset(state)
