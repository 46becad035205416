"""`minimize(fn, x0, method=...)`: the second-order methods on a plain function. TensorFlow and JAX.

The functional counterpart of `fit`, in the spirit of `scipy.optimize.minimize`: `fn` maps a
float tensor of x0's shape to a scalar tensor; gradients and Hessian-vector products come
from automatic differentiation.
"""

import collections

import numpy as np
from keras import ops

from kerasopt._validation import check_bool, check_choice, check_int
from kerasopt.second_order._core import Objective, check_bounds, require_backend, run
from kerasopt.second_order.bfgs import BFGS
from kerasopt.second_order.cg import ConjugateGradient
from kerasopt.second_order.lbfgs import LBFGS
from kerasopt.second_order.newton import Newton
from kerasopt.second_order.saddle_free import SaddleFreeNewton

METHODS = {
    "lbfgs": LBFGS,
    "bfgs": BFGS,
    "cg": ConjugateGradient,
    "newton": Newton,
    "saddle_free_newton": SaddleFreeNewton,
}
_CACHE_SIZE = 16
# (fn, method, options, shape, dtype) -> (optimizer, objective): the last few problems, so that
# calling `minimize` again on the same function and shapes reuses the compiled functions.
_problems = collections.OrderedDict()


def _problem(fn, method, options, shape, dtype):
    """The cached (optimizer, objective) of this problem, or a new one."""
    try:
        key = (
            fn,
            method if isinstance(method, str) else id(method),
            tuple(sorted(options.items())),
            shape,
            dtype,
        )
        hash(key)
    except TypeError:  # unhashable options: no caching
        key = None
    if key is not None and key in _problems:
        _problems.move_to_end(key)
        return _problems[key]
    optimizer = METHODS[method](**options) if isinstance(method, str) else method
    size = int(np.prod(shape))
    problem = (optimizer, Objective(lambda x, batch: fn(ops.reshape(x, shape)), size, dtype))
    if key is not None:
        _problems[key] = problem
        if len(_problems) > _CACHE_SIZE:
            _problems.popitem(last=False)
    return problem


def minimize(
    fn,
    x0,
    method="lbfgs",
    max_iterations=1000,
    max_evaluations=None,
    callback=None,
    steps_per_execution=1,
    jit_compile=False,
    bounds=None,
    **options,
):
    """Minimize `fn` from `x0` with a kerasopt second-order method.

    Args:
        fn: callable mapping a float tensor (x0's shape) to a scalar tensor, in `keras.ops`
            (or the backend's own ops). It is traced into a compiled function (no autograph),
            so tensor-dependent branches must use `keras.ops.where` rather than Python `if`.
        x0: starting point (array-like); float64 arrays are optimized in float64 (on JAX
            inside `jax.enable_x64`), anything else in float32.
        method: "lbfgs", "bfgs", "cg", "newton" or "saddle_free_newton", or an instance of
            one of the optimizer classes.
        max_iterations: iteration budget.
        max_evaluations: loss-and-gradient evaluation budget (None: no budget).
        callback: optional `callback(iteration, x, loss)` after every compiled call (x a
            NumPy array, iteration the number of iterations done); returning True stops.
        steps_per_execution: iterations per compiled call (the iteration loop and its stop
            tests run inside the graph; the callback sees one call at a time).
        jit_compile: compile each call with XLA (`fn` must be XLA-compatible).
        bounds: box constraints lower <= x <= upper (method "lbfgs" only): a `(lower, upper)`
            pair of scalars or arrays of x0's shape, None or +-inf meaning unbounded, or, as
            in SciPy, a sequence of one `(low, high)` pair per coordinate. x0 is projected
            onto the box first; the gradient test then reads the projected gradient (see
            `LBFGS`, which explains the algorithm).
        **options: constructor arguments of the method's class (e.g. gtol=1e-8, history=5).

    Returns:
        `OptimizeResult` with `x` (x0's shape), `fun`, `gradient_norm`, `iterations`,
        `evaluations`, `converged` and `message`.

    The last 16 problems (function, method and options, shape and dtype) keep their compiled
    graphs, so calling `minimize` again on the same `fn` with a new `x0`, budget or bounds
    does not retrace; each call still starts from fresh curvature (like SciPy).

    Example:
        Rosenbrock's function from (-1.2, 1), in float64 (SciPy's L-BFGS-B with the same
        `gtol` stops at the same point, by its relative-reduction test, after 44 evaluations too):

        >>> import numpy as np
        >>> import kerasopt.second_order as so
        >>> rosen = lambda w: 100 * (w[1] - w[0] ** 2) ** 2 + (1 - w[0]) ** 2
        >>> result = so.minimize(rosen, np.array([-1.2, 1.0]), method="lbfgs", gtol=1e-9)
        >>> result.converged, np.round(result.x, 6).tolist(), result.evaluations, result.x.dtype
        (True, [0.999999, 0.999998], 44, dtype('float64'))

        With bounds:

        >>> from keras import ops
        >>> from kerasopt.second_order import minimize
        >>> result = minimize(lambda x: ops.sum((x - 2.0) ** 2), np.zeros(3),
        ...                   bounds=(None, [1.0, 3.0, 3.0]))
        >>> np.round(result.x, 6).tolist(), result.converged
        ([1.0, 2.0, 2.0], True)
    """
    require_backend("kerasopt.second_order.minimize")
    if not callable(fn):
        raise TypeError(f"Argument `fn` must be callable. Received: fn={fn!r}")
    if isinstance(method, str):
        METHODS[check_choice("method", method, tuple(METHODS))](**options)  # validates the options
    elif isinstance(method, tuple(METHODS.values())):
        if options:
            raise ValueError(
                f"Argument `options` must be empty when `method` is an optimizer instance (pass them to the instance). Received: options={sorted(options)}"
            )
    else:
        raise TypeError(
            f"Argument `method` must be one of {tuple(METHODS)} or a kerasopt.second_order "
            f"optimizer. Received: method={method!r}"
        )
    check_int("max_iterations", max_iterations, 1)
    check_int("steps_per_execution", steps_per_execution, 1)
    check_bool("jit_compile", jit_compile)
    if max_evaluations is not None:
        check_int("max_evaluations", max_evaluations, 1)
    x0 = np.asarray(x0)
    if not np.issubdtype(x0.dtype, np.number) or x0.size == 0:
        raise ValueError(f"Argument `x0` must be a non-empty numeric array. Received: x0={x0!r}")
    dtype = "float64" if x0.dtype == np.float64 else "float32"
    optimizer, objective = _problem(fn, method, options, x0.shape, dtype)
    if bounds is not None:
        if not getattr(optimizer, "supports_bounds", False):
            raise ValueError(
                f"Argument `bounds` needs method='lbfgs' (L-BFGS with box constraints). "
                f"Received: bounds with method={type(optimizer).__name__}"
            )
        bounds = check_bounds(bounds, x0.size)
    elif getattr(optimizer, "bounds", None) is not None:
        bounds = check_bounds(optimizer.bounds, x0.size)
    after = None
    if callback is not None:

        def after(execution, info):
            return bool(callback(info["iterations"], info["x"].reshape(x0.shape), info["loss"]))

    result = run(
        optimizer,
        objective,
        x0.ravel().astype(dtype),
        max_iterations,
        max_evaluations,
        steps_per_execution,
        jit_compile,
        after_execution=after,
        bounds=bounds,
        cache_key="minimize",
    )
    result.x = result.x.reshape(x0.shape)
    return result
