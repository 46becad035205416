"""Newton's method with Levenberg-Marquardt damping: dense, or Newton-CG. TensorFlow and JAX
backends.

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

import typing

import keras
from keras import ops

from kerasopt._docs import shared_docs
from kerasopt._validation import check_bool, check_choice, check_int, check_range
from kerasopt.second_order import _ops, line_search
from kerasopt.second_order._core import (
    C2_ARG,
    LINE_SEARCH_ARGS,
    STOPPING_ARGS,
    LineSearchOptimizer,
    norm,
)


def eigen_solve(eigenvalues, eigenvectors, g, shift):
    """-V diag(1 / (eigenvalues + shift)) V^T g, and p^T H p for the undamped eigenvalues."""
    coeff = -ops.matmul(g, eigenvectors) / (eigenvalues + shift)
    return ops.matmul(eigenvectors, coeff), ops.sum(eigenvalues * coeff * coeff)


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

        >>> import numpy as np
        >>> from keras import ops
        >>> import kerasopt.second_order as so
        >>> result = so.minimize(lambda w: ops.sum((w - 3.0) ** 2), np.zeros(2), method="newton")
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

    def init_state(self, n, dtype):
        return NewtonState(
            damping=ops.convert_to_tensor(self.damping, dtype),
            nu=ops.convert_to_tensor(2.0, dtype),
        )

    def reset(self, method_state):
        return method_state._replace(nu=ops.full_like(method_state.nu, 2.0))

    def _cg_solve(self, problem, x, g, shift):
        """Truncated CG on (H + shift I) p = -g (N&W Algorithm 7.1); returns (p, p^T H p)."""
        gnorm = norm(g)
        tol = ops.minimum(ops.sqrt(gnorm), 0.5) * gnorm
        max_iter = self.cg_max_iterations or g.shape[0]

        def body(cg):
            bd = problem.hessian_vector(x, cg.d) + shift * cg.d
            dbd = ops.sum(cg.d * bd)
            negative = ~(dbd > 0)
            rr = ops.sum(cg.r * cg.r)
            a = rr / dbd
            z_new = cg.z + a * cg.d
            r_new = cg.r + a * bd
            converged = norm(r_new) < tol
            beta = ops.sum(r_new * r_new) / rr
            z_out = ops.where(negative, ops.where(ops.equal(cg.j, 0), -g, cg.z), z_new)
            return _CG(cg.j + 1, z_out, r_new, -r_new + beta * cg.d, negative | converged)

        start = _CG(ops.convert_to_tensor(0, "int32"), ops.zeros_like(g), g, -g, ops.array(False))
        p = _ops.while_loop(lambda cg: ~cg.done & (cg.j < max_iter), body, start).z
        return p, ops.sum(p * problem.hessian_vector(x, p))

    def _solver(self, problem, x, g):
        """A function shift -> (p, p^T H p) at x."""
        if self.solver == "dense":
            eigenvalues, eigenvectors = ops.eigh(problem.hessian(x))
            return lambda shift: eigen_solve(eigenvalues, eigenvectors, g, shift)
        return lambda shift: self._cg_solve(problem, x, g, shift)

    def direction(self, problem, state):
        p, _ = self._solver(problem, state.x, state.g)(state.method.damping)
        return p, ops.ones([], p.dtype), state.method

    def step(self, problem, state):
        if not self.adaptive_damping:
            return super().step(problem, state)
        x, f, g = state.x, state.f, state.g
        solve = self._solver(problem, x, g)
        dtype = x.dtype

        def body(trial):
            lam, nu = trial.damping, trial.nu
            p, php = solve(lam)
            predicted = -(ops.sum(g * p) + 0.5 * php)
            f_t, g_t = problem.value_and_gradient(x + p)
            ok = (
                ops.isfinite(f_t)
                & ops.all(ops.isfinite(g_t))
                & ops.all(ops.isfinite(p))
                & (f_t < f)
            )
            gain = (f - f_t) / predicted
            lam_ok = ops.where(
                predicted > 0,
                lam * ops.maximum(1.0 - (2.0 * gain - 1.0) ** 3, 1.0 / 3.0),
                lam / 3.0,
            )
            return _Damping(
                trials=trial.trials + 1,
                damping=ops.where(ok, lam_ok, ops.maximum(lam, ops.cast(1e-8, dtype)) * nu),
                nu=ops.where(ok, ops.cast(2.0, dtype), 2.0 * nu),
                accepted=ok,
                x=ops.where(ok, x + p, trial.x),
                f=ops.where(ok, f_t, trial.f),
                g=ops.where(ok, g_t, trial.g),
            )

        start = _Damping(
            ops.convert_to_tensor(0, "int32"),
            state.method.damping,
            state.method.nu,
            ops.array(False),
            x,
            f,
            g,
        )
        out = _ops.while_loop(
            lambda t: ~t.accepted & (t.trials < self.max_damping_trials), body, start
        )
        state = state._replace(
            method=NewtonState(out.damping, out.nu),
            f_prev=ops.where(out.accepted, f, state.f_prev),
            x=out.x,
            f=out.f,
            g=out.g,
        )
        status = ops.where(out.accepted, line_search.WOLFE, line_search.FAILED)
        return state, out.trials, ops.cast(status, "int32")


class NewtonState(typing.NamedTuple):
    """The Levenberg-Marquardt damping (Madsen, Nielsen & Tingleff 2004, sec. 3.2)."""

    damping: typing.Any  # lambda in (H + lambda I) p = -g
    nu: typing.Any  # the factor lambda grows by after the next rejected trial


class _Damping(typing.NamedTuple):
    """What the Levenberg-Marquardt trial loop of one iteration carries."""

    trials: typing.Any  # trial steps evaluated (int32)
    damping: typing.Any  # lambda for the next trial
    nu: typing.Any  # growth factor after a rejection
    accepted: typing.Any  # the last trial lowered the loss (the loop stops)
    x: typing.Any  # the accepted point (x while none is)
    f: typing.Any  # the loss there
    g: typing.Any  # the gradient there


class _CG(typing.NamedTuple):
    """What Newton-CG's inner conjugate-gradient loop carries."""

    j: typing.Any  # CG iterations done (int32)
    z: typing.Any  # the current solution estimate p
    r: typing.Any  # the residual (H + shift I) z + g
    d: typing.Any  # the CG direction
    done: typing.Any  # converged or met negative curvature
