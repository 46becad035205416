"""The backend primitives the second-order methods need beyond `keras.ops`: one place.

Everything else in `kerasopt.second_order` is `keras.ops` on a typed `NamedTuple` state. Here,
per backend (TensorFlow or JAX):

- `while_loop(cond, body, state)`: `tf.while_loop` / `jax.lax.while_loop` over a state
  structure (a `NamedTuple`, possibly nested);
- `set_row(matrix, i, row)`: one row written in place (L-BFGS's ring of curvature pairs);
- `compile(fn, jit_compile)`: `tf.function` (XLA when asked) / `jax.jit`; on JAX, `shapes` and
  `compile_for` compile ahead of the first call;
- `value_and_gradient`, `hessian_vector`, `hessian`: automatic differentiation of a pure loss
  `loss(x, batch)` of a flat vector `x` (`tf.GradientTape` through `kerasopt.diagnostics` /
  `jax.value_and_grad`, `jax.jvp`, `jax.vmap`);
- `precision(dtype)`: float64 on JAX needs `jax.enable_x64` while a float64 problem runs.

TensorFlow is imported only on the TensorFlow backend and JAX only on JAX.
"""

import contextlib
import importlib

import keras
from keras import ops

from kerasopt import _backend, diagnostics
from kerasopt._backend import tf

SUPPORTED = ("tensorflow", "jax")
# On another backend (PyTorch, NumPy): what to use instead.
ALTERNATIVE = "a first-order kerasopt optimizer with model.fit"


def require_backend(what):
    """Raise `kerasopt._backend.BackendError` (a RuntimeError) naming `what` and the backend
    received unless Keras runs on TensorFlow or JAX."""
    received = _backend.backend()
    if received not in SUPPORTED:
        raise _backend.BackendError(
            f"{what} needs the TensorFlow backend or the JAX backend. Received: "
            f"KERAS_BACKEND={received!r}. Set KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax. "
            f"On the {received} backend, use {ALTERNATIVE}."
        )


def _jax():
    return importlib.import_module("jax")


def on_jax():
    return _backend.backend() == "jax"


def while_loop(cond, body, state):
    """Iterate `state = body(state)` while `cond(state)`; `state` a (nested) NamedTuple."""
    if on_jax():
        return _jax().lax.while_loop(cond, body, state)
    return tf.while_loop(cond, lambda s: (body(s),), (state,))[0]


def cond(pred, true_fn, false_fn):
    """`true_fn()` if the scalar `pred` holds, else `false_fn()` (only one branch runs)."""
    if on_jax():
        return _jax().lax.cond(pred, true_fn, false_fn)
    return tf.cond(pred, true_fn, false_fn)


def select(pred, on_true, on_false):
    """`on_true` where the scalar `pred` holds, else `on_false`, leaf by leaf of two equal
    structures (both sides are computed; cheaper than a branch for small updates)."""
    return keras.tree.map_structure(lambda a, b: ops.where(pred, a, b), on_true, on_false)


def set_row(matrix, i, row):
    """`matrix` with its row `i` (a scalar int32 tensor) replaced by `row`, written in place
    where the compiler can (`lax.dynamic_update_slice` / `tf.tensor_scatter_nd_update`): an
    O(n) write, where `ops.where` over a row mask or a concatenation rewrites all of it."""
    if on_jax():
        return _jax().lax.dynamic_update_index_in_dim(matrix, row, i, 0)
    return tf.tensor_scatter_nd_update(matrix, ops.reshape(i, [1, 1]), row[None])


def compile(fn, jit_compile, donate_first=False):  # noqa: A001  (the backend's compiler)
    """`fn` compiled: `jax.jit` on JAX (a JAX loop is compiled anyway), else `tf.function`,
    with XLA when `jit_compile`. `donate_first`: the caller never reads the first argument
    again, so on JAX its buffers are donated and the result is written into them (no copy
    of a large state per call; TensorFlow has no such option)."""
    if on_jax():
        return _jax().jit(fn, donate_argnums=(0,) if donate_first else ())
    return tf.function(fn, autograph=False, jit_compile=jit_compile)


def shapes(fn, *args):
    """The shapes and dtypes of `fn(*args)`, traced, not run (JAX only: `jax.eval_shape`)."""
    return _jax().eval_shape(fn, *args)


def compile_for(fn, *args):
    """Compile `fn` (from `compile`) for `args` (arrays or shapes) now, so that its first call
    with such arguments does not (JAX only: `jit.lower(...).compile()` fills the call's
    cache)."""
    fn.lower(*args).compile()


def value_and_gradient(loss, x, batch):
    """(loss(x, batch), d loss / d x) for a flat vector `x`, in x's dtype."""
    if on_jax():
        f, g = _jax().value_and_grad(lambda z: ops.cast(loss(z, batch), z.dtype))(x)
        return f, g
    f, (g,) = diagnostics.gradient(lambda: loss(x, batch), [x])
    return ops.cast(f, x.dtype), g


def hessian_vector(loss, x, v, batch):
    """H(x) v by forward-over-reverse (JAX) or double back-propagation (TensorFlow,
    `kerasopt.diagnostics.hessian_vector_product`; Pearlmutter 1994)."""
    if on_jax():
        jax = _jax()
        return jax.jvp(lambda z: jax.grad(lambda w: loss(w, batch))(z), (x,), (v,))[1]
    (hv,) = diagnostics.hessian_vector_product(lambda: loss(x, batch), [x], [v])
    return hv


def hessian(loss, x, batch):
    """The dense n x n Hessian at `x`, one H e_i per column, symmetrized."""
    eye = ops.eye(x.shape[0], dtype=x.dtype)
    column = lambda e: hessian_vector(loss, x, e, batch)  # noqa: E731
    h = _jax().vmap(column)(eye) if on_jax() else tf.vectorized_map(column, eye)
    return 0.5 * (h + ops.transpose(h))


def precision(dtype):
    """A context in which `dtype` is available: JAX drops float64 to float32 unless
    `jax.enable_x64` is on, so a float64 problem runs inside it; elsewhere nothing."""
    if on_jax() and keras.backend.standardize_dtype(dtype) == "float64":
        return _jax().enable_x64(True)
    return contextlib.nullcontext()


def is_dataset(x):
    """Whether `x` is a `tf.data.Dataset` (never imports TensorFlow to find out)."""
    return type(x).__module__.startswith("tensorflow") and hasattr(x, "cardinality")
