"""Math and machinery shared by every kerasopt second-order method. TensorFlow backend.

- `Objective`: a loss over a list of variables seen as one flat parameter vector (flattening
  and un-flattening, assignment, value and gradient, Hessian-vector products and the dense
  Hessian via `kerasopt.diagnostics`), over in-memory data or a finite `tf.data.Dataset`
  whose batches are combined into the exact full-batch loss.
- `_stop_code`: the stopping tests (gradient norm, relative loss change, evaluation budget,
  repeated line-search failure; Nocedal & Wright, Numerical Optimization, sec. 2.2 and the
  L-BFGS-B `factr` test of Byrd et al. 1995), evaluated inside the graph.
- `SecondOrderOptimizer`: the Keras optimizer base class (compile-able, serializable, refuses
  `model.fit`), and `LineSearchOptimizer` for the methods that search along a direction.
- `run`: the iteration driver used by both `minimize` and `fit`; one call of a compiled graph
  (`tf.function`, optionally XLA) runs up to `steps_per_execution` iterations, stop tests
  included, so the iteration loop itself runs in the graph.
"""

import dataclasses

import keras
import numpy as np

from kerasopt import _backend, diagnostics
from kerasopt._backend import tf
from kerasopt._docs import shared_docs
from kerasopt._validation import check_int, check_range
from kerasopt.second_order import line_search

# On JAX, `jax.scipy.optimize.minimize` (BFGS) runs a full-batch quasi-Newton method.
ALTERNATIVE = "a first-order kerasopt optimizer with model.fit, or jax.scipy.optimize.minimize"


def require_tensorflow(what):
    """Raise `kerasopt._backend.BackendError` (a RuntimeError) unless Keras runs on TensorFlow:
    the second-order methods use tf.GradientTape and tf.function."""
    _backend.require_tensorflow(what, ALTERNATIVE)


def flatten(tensors):
    """Concatenate tensors into one flat vector."""
    return tf.concat([tf.reshape(t, [-1]) for t in tensors], axis=0)


class Objective:
    """A scalar loss of `variables`, exposed as a function of one flat vector.

    `loss_fn_for(batch)` builds the zero-argument loss closure of one batch: for in-memory
    objectives `batch` is the `data` structure (tensors, e.g. `(x, y, sample_weight)`, or `()`),
    which the compiled functions of `run` take as ARGUMENTS, so one trace serves every call
    with data of the same shapes. With a `dataset`, each evaluation loops over all of its
    batches inside the graph and weights batch b by n_b / N, so the value is the full-batch
    mean loss (regularization terms, included once per batch, are weighted back to exactly one
    copy); the dataset and N are arguments too.
    """

    def __init__(self, variables, loss_fn_for, dataset=None, data=()):
        # Keras variables wrap a tf.Variable (`.value` on the TensorFlow backend); the tape and
        # the flat-vector assignment work on that.
        self.variables = [v.value if isinstance(v, keras.Variable) else v for v in variables]
        if not self.variables:
            raise ValueError("Argument `variables` must not be empty. Received: variables=[]")
        dtypes = {v.dtype for v in self.variables}
        if len(dtypes) != 1:
            raise ValueError(
                "All trainable variables must share one dtype for a flat parameter vector. "
                f"Received: dtypes={sorted(str(d) for d in dtypes)}"
            )
        self.dtype = tf.as_dtype(self.variables[0].dtype)
        self.shapes = [tuple(v.shape) for v in self.variables]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.size = sum(self.sizes)
        self._loss_fn_for = loss_fn_for
        self._dataset, self._data = dataset, data
        self._bound = None  # the inputs of the graph being traced (`bind`)
        if dataset is not None:
            if dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
                raise ValueError(
                    "Argument `x` must be a finite tf.data.Dataset (the full-batch loss sums over "
                    "all of its batches). Received: an infinite dataset (did you call .repeat()?)"
                )
            self._count = sum(int(tf.shape(tf.nest.flatten(b)[0])[0]) for b in dataset)
            if self._count == 0:
                raise ValueError("Argument `x` must be a non-empty dataset. Received: 0 samples")

    @property
    def is_dataset(self):
        return self._dataset is not None

    def inputs(self):
        """The arguments that carry this objective's data into a compiled function."""
        if self._dataset is None:
            return self._data
        return (self._dataset, tf.constant(self._count, self.dtype))

    def bind(self, inputs):
        """Evaluate on `inputs` (another objective's `inputs()` inside a traced function)."""
        self._bound = inputs

    def unflatten(self, x):
        parts = tf.split(x, self.sizes)
        return [tf.reshape(p, s) for p, s in zip(parts, self.shapes, strict=True)]

    def read(self):
        return flatten([tf.convert_to_tensor(v) for v in self.variables])

    def assign(self, x):
        return [v.assign(p) for v, p in zip(self.variables, self.unflatten(x), strict=True)]

    def _accumulate(self, fn, shapes):
        """fn(loss_fn) -> tuple of tensors with `shapes`, combined over the dataset's batches."""
        inputs = self.inputs() if self._bound is None else self._bound
        if self._dataset is None:
            return fn(self._loss_fn_for(inputs))
        dataset, count = inputs

        def reduce(total, batch):
            weight = tf.cast(tf.shape(tf.nest.flatten(batch)[0])[0], self.dtype) / count
            parts = fn(self._loss_fn_for(batch))
            return tuple(
                t + weight * tf.cast(p, self.dtype) for t, p in zip(total, parts, strict=True)
            )

        return dataset.reduce(tuple(tf.zeros(s, self.dtype) for s in shapes), reduce)

    def value_and_gradient(self, x):
        """(loss, flat gradient) at the flat point `x` (the variables are set to `x`)."""
        with tf.control_dependencies(self.assign(x)):
            return self._accumulate(self._value_and_gradient, [(), (self.size,)])

    def _value_and_gradient(self, loss_fn):
        loss, grads = diagnostics.gradient(loss_fn, self.variables)
        return tf.cast(loss, self.dtype), flatten(grads)

    def hessian_vector(self, v):
        """H v at the variables' current values, for a flat vector `v`."""
        return self._accumulate(
            lambda lf: (
                flatten(diagnostics.hessian_vector_product(lf, self.variables, self.unflatten(v))),
            ),
            [(self.size,)],
        )[0]

    def hessian(self):
        """The dense n x n Hessian at the variables' current values, one H e_i per column."""
        eye = tf.eye(self.size, dtype=self.dtype)

        def columns(lf):
            return (
                tf.vectorized_map(
                    lambda e: flatten(
                        diagnostics.hessian_vector_product(lf, self.variables, self.unflatten(e))
                    ),
                    eye,
                ),
            )

        h = self._accumulate(columns, [(self.size, self.size)])[0]
        return 0.5 * (h + tf.transpose(h))


@dataclasses.dataclass
class OptimizeResult:
    """What a second-order run returns (also stored on `History.convergence` by `fit`).

    Example:
        >>> import numpy as np, tensorflow as tf
        >>> import kerasopt.second_order as so
        >>> result = so.minimize(lambda w: tf.reduce_sum(w ** 2), np.ones(3))
        >>> isinstance(result, so.OptimizeResult), result.converged, float(result.fun)
        (True, True, 0.0)
    """

    x: np.ndarray
    fun: float
    gradient_norm: float
    iterations: int
    evaluations: int
    converged: bool
    message: str


# Stop codes of one iteration, decided in the graph (Nocedal & Wright, Numerical Optimization,
# sec. 2.2; the relative-change test is L-BFGS-B's `factr` test of Byrd et al. 1995).
CONTINUE, GTOL, FTOL, MAX_EVALUATIONS, LINE_SEARCH_FAILED = range(5)


def _stop_code(
    failed, failures, f_prev, f, gradient_norm, evaluations, gtol, ftol, max_evaluations
):
    """The stop code after one iteration (graph tensors in, an int32 tensor out).

    Converged: the gradient's infinity norm is at most `gtol`, or the relative loss change
    |f_prev - f| / max(|f_prev|, |f|, 1) is at most `ftol` (ftol=0 disables this test: near
    rounding level an accepted step may leave f unchanged). Stopped without convergence: the
    evaluation budget is spent (`max_evaluations` < 0: none), or two line searches in a row
    failed. A single failed line search resets the curvature model and goes on (no test).
    The iteration budget is the caller's, which runs at most that many iterations.
    """
    change = tf.abs(f_prev - f) / tf.maximum(tf.maximum(tf.abs(f_prev), tf.abs(f)), 1.0)
    code = tf.where(
        gradient_norm <= gtol,
        GTOL,
        tf.where(
            (ftol > 0) & (change <= ftol),
            FTOL,
            tf.where(
                (max_evaluations >= 0) & (evaluations >= max_evaluations), MAX_EVALUATIONS, CONTINUE
            ),
        ),
    )
    return tf.where(failed, tf.where(failures >= 2, LINE_SEARCH_FAILED, CONTINUE), code)


# Keras optimizer base arguments these methods cannot honour (they take their own steps from a
# line search or a Newton system, never `apply`), with the default that deserialization passes.
_UNSUPPORTED = {
    "clipnorm": None,
    "clipvalue": None,
    "global_clipnorm": None,
    "weight_decay": None,
    "use_ema": False,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


def _refuse_unsupported(name, kwargs):
    """Refuse, by name, a Keras base argument set to anything but its default (as Keras'
    `LossScaleOptimizer` does); defaults pass, so configs saved by `get_config` load."""
    for arg, default in _UNSUPPORTED.items():
        if arg in kwargs and kwargs[arg] != default:
            raise ValueError(
                f"{name} does not support `{arg}`: a full-batch second-order method takes its steps "
                "from its own line search or Newton system, never from clipped, decayed, averaged, "
                f"scaled or accumulated gradients. Received: {arg}={kwargs[arg]!r}"
            )


_FIT_MESSAGE = (
    "{name} is a full-batch second-order optimizer: it needs the loss itself (for its line "
    "search and curvature), which `model.fit` never gives an optimizer. Train with "
    "`kerasopt.second_order.fit(model, x, y, max_iterations=...)` instead of `model.fit`."
)


STOPPING_ARGS = """
gtol: stop when the gradient's infinity norm is at most this (default 1e-5).
ftol: stop when the relative loss change of an iteration is at most this (default 2.2e-9,
    as SciPy's L-BFGS-B; 0 disables the test).
"""

LINE_SEARCH_ARGS = """
c1: sufficient-decrease constant of the strong-Wolfe line search, 0 < c1 < c2 (default 1e-4).
max_line_search_evaluations: trial points per line search (and per fallback; default 20).
"""

C2_ARG = """
c2: curvature constant of the strong-Wolfe line search, c1 < c2 < 1 (default 0.9).
"""


@keras.saving.register_keras_serializable(package="kerasopt")
@shared_docs(stopping=STOPPING_ARGS)
class SecondOrderOptimizer(keras.optimizers.Optimizer):
    """Base class: a Keras optimizer that `kerasopt.second_order.fit` drives.

    It can be given to `model.compile`, saved and loaded with the model; `apply` /
    `apply_gradients` (what `model.fit` calls) raise at once with a message pointing to
    `kerasopt.second_order.fit`. TensorFlow backend only.

    Args:
        {{stopping}}
        max_parameters: the largest parameter count accepted (dense methods), or None.

    Keras' base optimizer arguments `clipnorm`, `clipvalue`, `global_clipnorm`,
    `weight_decay`, `use_ema`, `loss_scale_factor` and `gradient_accumulation_steps` are
    refused by name with a `ValueError` unless left at their defaults: these methods never
    apply gradients, so the arguments could only be ignored silently.

    Example:
        The base class refuses Keras' minibatch `model.fit` at once:

        >>> import keras, numpy as np
        >>> import kerasopt.second_order as so
        >>> issubclass(so.LBFGS, so.SecondOrderOptimizer)
        True
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=so.LBFGS(), loss="mse")
        >>> try:
        ...     model.fit(np.ones((4, 1)), np.ones((4, 1)), verbose=0)
        ... except RuntimeError as error:
        ...     print("second_order.fit" in str(error))
        True
    """

    _max_parameters_hint = ""

    def __init__(self, gtol=1e-5, ftol=2.2e-9, max_parameters=None, name=None, **kwargs):
        require_tensorflow(type(self).__name__)
        _refuse_unsupported(type(self).__name__, kwargs)
        check_range("gtol", gtol, low=0)
        check_range("ftol", ftol, low=0)
        if max_parameters is not None:
            check_int("max_parameters", max_parameters, 1)
        kwargs.setdefault("learning_rate", 1.0)
        super().__init__(name=name, **kwargs)
        self.gtol, self.ftol, self.max_parameters = gtol, ftol, max_parameters

    def apply(self, grads, trainable_variables=None):
        raise RuntimeError(_FIT_MESSAGE.format(name=type(self).__name__))

    def apply_gradients(self, grads_and_vars):
        raise RuntimeError(_FIT_MESSAGE.format(name=type(self).__name__))

    def get_config(self):
        config = super().get_config()
        config.update({"gtol": self.gtol, "ftol": self.ftol, "max_parameters": self.max_parameters})
        return config

    def check_size(self, n):
        """Refuse more parameters than `max_parameters` with a message naming both."""
        if self.max_parameters is not None and n > self.max_parameters:
            raise ValueError(
                f"{type(self).__name__}{self._max_parameters_hint} stores an n x n matrix and "
                f"accepts at most `max_parameters`={self.max_parameters} parameters. Received: "
                f"{n} parameters (max_parameters={self.max_parameters}). Use "
                'kerasopt.second_order.Newton(solver="cg") (Newton-CG, Hessian-vector products '
                "only) or kerasopt.second_order.LBFGS, or raise max_parameters."
            )

    # Subclass interface -------------------------------------------------------------------
    def create_state(self, n, dtype):
        """Method-specific state: a dict of tf.Variables (x, f, g are added by `run`)."""
        return {}

    def reset(self, state):
        """Forget accumulated curvature (after a failed line search)."""

    def start_state(self, state):
        """Return the method's state to its start (each `run` begins with this)."""
        self.reset(state)

    def step(self, objective, state):
        """One iteration in graph: reads x/f/g from `state`, writes the new ones.

        Returns a dict with `evaluations` (int32) and `status` (line_search codes)."""
        raise NotImplementedError


@shared_docs(line_search=LINE_SEARCH_ARGS, c2=C2_ARG)
class LineSearchOptimizer(SecondOrderOptimizer):
    """A method that picks a direction and step along it with the shared strong-Wolfe search.

    Args:
        {{line_search}}
        {{c2}}
        **kwargs: the base class's arguments (`gtol`, `ftol`, `max_parameters`).
    """

    def __init__(self, c1=1e-4, c2=0.9, max_line_search_evaluations=20, **kwargs):
        super().__init__(**kwargs)
        self.c1 = check_range("c1", c1, 0, 1, low_inclusive=False, high_inclusive=False)
        self.c2 = check_range("c2", c2, c1, 1, low_inclusive=False, high_inclusive=False)
        self.max_line_search_evaluations = check_int(
            "max_line_search_evaluations", max_line_search_evaluations, 1
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "c1": self.c1,
                "c2": self.c2,
                "max_line_search_evaluations": self.max_line_search_evaluations,
            }
        )
        return config

    def direction(self, objective, state, g):
        """(direction, first trial step) in graph."""
        raise NotImplementedError

    def update(self, state, s, y, d, g):
        """Record the accepted step s = alpha d and gradient change y (g: the old gradient)."""

    def step(self, objective, state):
        x, f, g = state["x"].read_value(), state["f"].read_value(), state["g"].read_value()
        d, alpha0 = self.direction(objective, state, g)
        slope = tf.reduce_sum(g * d)
        descent = tf.math.is_finite(slope) & (slope < 0) & tf.reduce_all(tf.math.is_finite(d))
        # Not a descent direction (e.g. a stale curvature model): steepest descent instead.
        d = tf.where(descent, d, -g)
        alpha0 = tf.where(descent, alpha0, 1.0 / tf.maximum(tf.norm(g), 1e-12))
        ls = line_search.strong_wolfe(
            objective.value_and_gradient,
            x,
            f,
            g,
            d,
            alpha0,
            self.c1,
            self.c2,
            self.max_line_search_evaluations,
        )
        s = ls["alpha"] * d
        return self.commit(objective, state, ls, x + s, s, f, g, d)

    def commit(self, objective, state, ls, x_new, s, f, g, d):
        """Take the line search's point `x_new` = x + `s` unless it failed: record the curvature
        pair, move the state (and the model's weights) there; returns the step's logs."""
        ok = tf.not_equal(ls["status"], line_search.FAILED)

        def accept():
            self.update(state, s, ls["g"] - g, d, g)
            state["f_prev"].assign(f)
            state["x"].assign(x_new)
            state["f"].assign(ls["f"])
            state["g"].assign(ls["g"])
            return tf.constant(True)

        tf.cond(ok, accept, lambda: tf.constant(False))
        with tf.control_dependencies([state["x"].read_value()]):
            objective.assign(state["x"].read_value())
        return {"evaluations": ls["evaluations"], "status": ls["status"]}


def first_step(state, dphi0):
    """Initial trial step: min(1, 1.01 * 2 (f_k - f_{k-1}) / g^T d) (Nocedal & Wright eq. 3.60).

    On the first iteration f_{k-1} is taken as f_k + ||g|| / 2, which makes the first trial
    move a unit distance along -g."""
    f, f_prev = state["f"], state["f_prev"]
    step = 1.01 * 2.0 * (f - f_prev) / dphi0
    return tf.where(
        tf.math.is_finite(step) & (step > 0),
        tf.minimum(tf.ones_like(step), step),
        tf.ones_like(step),
    )


def projected_gradient_norm(x, g, lower, upper):
    """Infinity norm of P(x - g) - x, P the projection onto the box [lower, upper]: the
    first-order optimality measure of L-BFGS-B (Byrd et al. 1995, `pgtol`); ||g||_inf
    without bounds."""
    return tf.reduce_max(tf.abs(tf.clip_by_value(x - g, lower, upper) - x))


class _Program:
    """The compiled functions of one (optimizer, variables, loss, data kind, XLA, bounded)
    combination and the state variables they update, kept across `run` calls (`programs`):
    a second `fit` or `minimize` on the same model, loss and shapes reuses the traces. The
    data, bounds and budgets are arguments or re-assigned state, and `start` resets every
    state variable, so each run starts from fresh curvature (what `fit` documents)."""

    def __init__(self, optimizer, objective, jit_compile, bounded):
        n, dtype = objective.size, objective.dtype
        self.objective, self.bounded = objective, bounded
        state = optimizer.create_state(n, dtype)
        zeros = tf.zeros([n], dtype)
        state.update(
            {
                "x": tf.Variable(zeros),
                "f": tf.Variable(tf.zeros([], dtype)),
                "g": tf.Variable(zeros),
                "f_prev": tf.Variable(tf.zeros([], dtype)),
                "evaluations": tf.Variable(0),
                "failures": tf.Variable(0),
            }
        )
        if bounded:
            state.update({"lower": tf.Variable(zeros), "upper": tf.Variable(zeros)})
        self.state = state

        def gradient_norm():
            if not bounded:
                return tf.reduce_max(tf.abs(state["g"].read_value()))
            return projected_gradient_norm(
                state["x"].read_value(),
                state["g"].read_value(),
                state["lower"].read_value(),
                state["upper"].read_value(),
            )

        def start(inputs, lower, upper):
            objective.bind(inputs)
            optimizer.start_state(state)
            x0 = objective.read()
            if bounded:
                state["lower"].assign(lower)
                state["upper"].assign(upper)
                x0 = tf.clip_by_value(x0, lower, upper)  # L-BFGS-B projects x0 onto the box too
            f0, g0 = objective.value_and_gradient(x0)
            state["x"].assign(x0)
            state["f"].assign(f0)
            state["g"].assign(g0)
            state["f_prev"].assign(f0 + 0.5 * tf.norm(g0))
            state["evaluations"].assign(1)
            state["failures"].assign(0)
            with tf.control_dependencies([state["g"].read_value()]):
                return f0, gradient_norm()

        def iteration(gtol, ftol, budget):
            f_prev = state["f"].read_value()
            out = optimizer.step(objective, state)
            optimizer.iterations.assign_add(1)
            evaluations = state["evaluations"].assign_add(out["evaluations"])
            failed = tf.equal(out["status"], line_search.FAILED)
            failures = state["failures"].assign(tf.where(failed, state["failures"] + 1, 0))

            def reset():
                optimizer.reset(state)
                return tf.constant(True)

            tf.cond(failed, reset, lambda: tf.constant(False))
            code = _stop_code(
                failed,
                failures,
                f_prev,
                state["f"].read_value(),
                gradient_norm(),
                evaluations,
                gtol,
                ftol,
                budget,
            )
            return code, out["status"]

        def execute(limit, budget, gtol, ftol, inputs):
            objective.bind(inputs)

            def body(i, code, status):
                code, status = iteration(gtol, ftol, budget)
                return i + 1, code, status

            i, code, status = tf.while_loop(
                lambda i, code, status: (i < limit) & tf.equal(code, CONTINUE),
                body,
                (tf.constant(0), tf.constant(CONTINUE), tf.constant(line_search.WOLFE)),
            )
            return {
                "iterations": i,
                "code": code,
                "status": status,
                "f": state["f"].read_value(),
                "gradient_norm": gradient_norm(),
                "evaluations": state["evaluations"].read_value(),
            }

        self.start = tf.function(start, autograph=False)
        self.execute = tf.function(execute, autograph=False, jit_compile=jit_compile)


def programs(optimizer):
    """The optimizer's cache of `_Program`s (kept outside Keras' attribute tracking)."""
    cache = optimizer.__dict__.get("_kerasopt_programs")
    if cache is None:
        cache = {}
        object.__setattr__(optimizer, "_kerasopt_programs", cache)
    return cache


def check_bounds(bounds, n, dtype, name="bounds"):
    """`(lower, upper)` flat tensors of length n from `bounds`: a `(lower, upper)` pair of
    scalars or arrays with 1 or n values (None or +-inf: unbounded), an object with `lb` and
    `ub` (`scipy.optimize.Bounds`), or SciPy's sequence of n `(low, high)` pairs (when n != 2;
    with n == 2 a pair of pairs reads as (lower, upper)). Raises, naming `bounds`, on any other
    shape or where a lower bound exceeds its upper bound."""
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):
        pairs = (bounds.lb, bounds.ub)
    elif isinstance(bounds, (tuple, list)) and len(bounds) == 2:
        pairs = bounds
    elif (
        isinstance(bounds, (tuple, list))
        and len(bounds) == n
        and all(isinstance(b, (tuple, list)) and len(b) == 2 for b in bounds)
    ):
        pairs = tuple(zip(*bounds, strict=True))
    else:
        raise ValueError(
            f"Argument `{name}` must be a (lower, upper) pair or a sequence of {n} (low, high) "
            f"pairs. Received: {name}={bounds!r}"
        )

    def side(values, fill):
        flat = np.ravel(np.asarray(values, dtype=object))
        a = np.asarray([fill if v is None else v for v in flat], dtype=np.float64)
        if a.size not in (1, n):
            raise ValueError(
                f"Argument `{name}` must give 1 or {n} values per side (one per parameter). "
                f"Received: {name} with {a.size} values on one side"
            )
        return np.broadcast_to(a, (n,))

    lower, upper = side(pairs[0], -np.inf), side(pairs[1], np.inf)
    if np.any(np.isnan(lower)) or np.any(np.isnan(upper)) or np.any(lower > upper):
        raise ValueError(
            f"Argument `{name}` must have lower <= upper (no NaN) everywhere. Received: {name}={bounds!r}"
        )
    return tf.constant(lower, dtype), tf.constant(upper, dtype)


def run(
    optimizer,
    objective,
    max_iterations,
    max_evaluations=None,
    steps_per_execution=1,
    jit_compile=False,
    before_execution=None,
    after_execution=None,
    bounds=None,
    cache_key=None,
):
    """Iterate `optimizer` on `objective` in compiled graph calls of up to
    `steps_per_execution` iterations each.

    One call runs a `tf.while_loop` over iterations (each iteration's line search is itself a
    `tf.while_loop`), with the stop tests of `_stop_code` inside the graph, so nothing returns
    to Python between the iterations of one call; `jit_compile=True` compiles the call with XLA
    (in-memory objectives only). `before_execution(e)` and `after_execution(e, info)` (e from
    0) are Python hooks around each call for logging and callbacks; `info` holds the last
    iteration's `loss`, `gradient_norm`, cumulative `evaluations` and `iterations`, and its
    line-search `status`; `after_execution` returning True stops the run. `bounds`: `(lower,
    upper)` flat tensors (methods with `supports_bounds` only); the gradient test then reads
    the projected gradient. `cache_key`: a hashable naming the variables, the loss and the
    data kind; runs with equal keys on one optimizer share one `_Program` (no retracing for
    data of the same shapes). Returns an `OptimizeResult`; the objective's variables hold its
    `x` (the last finite point).
    """
    require_tensorflow(type(optimizer).__name__)
    optimizer.check_size(objective.size)
    bounded = bounds is not None
    cache = programs(optimizer)
    key = (
        None if cache_key is None else (cache_key, bool(jit_compile), bounded, objective.is_dataset)
    )
    program = cache.get(key) if key is not None else None
    if program is None:
        program = _Program(optimizer, objective, jit_compile, bounded)
        if key is not None:
            cache[key] = program
    state, dtype = program.state, objective.dtype
    inputs = objective.inputs()
    lower, upper = bounds if bounded else (tf.zeros([0], dtype), tf.zeros([0], dtype))
    f0, gnorm0 = program.start(inputs, lower, upper)
    args = (
        tf.constant(-1 if max_evaluations is None else max_evaluations),
        tf.constant(optimizer.gtol, dtype),
        tf.constant(optimizer.ftol, dtype),
        inputs,
    )

    iterations, evaluations = 0, 1
    f, gnorm = float(f0), float(gnorm0)

    def result(converged, message):
        objective.assign(state["x"])
        return OptimizeResult(
            state["x"].numpy(), f, gnorm, iterations, evaluations, converged, message
        )

    if not (np.isfinite(f) and np.isfinite(gnorm)):
        return result(
            False,
            "stopped: the loss or its gradient is non-finite at the starting point "
            f"(loss={f}, gradient norm={gnorm}); the weights were left unchanged",
        )
    if gnorm <= optimizer.gtol:
        return result(True, f"gradient norm {gnorm:.3g} <= gtol={optimizer.gtol:g} at the start")
    execution = 0
    while True:
        if before_execution is not None:
            before_execution(execution)
        limit = min(steps_per_execution, max_iterations - iterations)
        out = {
            k: v.numpy() for k, v in program.execute(tf.constant(limit), *args).items()
        }  # one graph call
        iterations += int(out["iterations"])
        evaluations, f, gnorm = (
            int(out["evaluations"]),
            float(out["f"]),
            float(out["gradient_norm"]),
        )
        code, status = int(out["code"]), int(out["status"])
        info = {
            "loss": f,
            "gradient_norm": gnorm,
            "evaluations": evaluations,
            "iterations": iterations,
            "status": status,
        }
        stop_requested = after_execution is not None and after_execution(execution, info)
        execution += 1
        if code == LINE_SEARCH_FAILED:
            return result(
                gnorm <= optimizer.gtol,
                "stopped: the line search found no decrease of the loss along the "
                "steepest-descent direction (limit of floating-point precision or a "
                f"non-finite loss nearby); gradient norm {gnorm:.3g}; kept the last finite weights",
            )
        if code == GTOL:
            return result(True, f"gradient norm {gnorm:.3g} <= gtol={optimizer.gtol:g}")
        if code == FTOL:
            return result(True, f"relative loss change <= ftol={optimizer.ftol:g}")
        if code == MAX_EVALUATIONS:
            return result(False, f"reached max_evaluations={max_evaluations}")
        if status == line_search.FAILED and (stop_requested or iterations >= max_iterations):
            return result(False, "stopped after a failed line search")
        if iterations >= max_iterations:
            return result(False, f"reached max_iterations={max_iterations}")
        if stop_requested:
            return result(False, "stopped by a callback")
