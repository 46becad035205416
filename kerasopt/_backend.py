"""Backend shims: the one place kerasopt asks which Keras backend runs, and TensorFlow imported
only when a TensorFlow-only object is used.

`import kerasopt` must not import TensorFlow on another backend (the JAX machines this project
borrows have no TensorFlow at all). Modules whose objects are TensorFlow-only by nature
(second-order methods, SavedModel/ONNX/LiteRT export, tf.data pipelines, the RBM's fused
epoch) write `from kerasopt._backend import tf` instead of `import tensorflow as tf`: `tf` is a
lazy module that imports TensorFlow at its first attribute access. Their public entry points
call `require_tensorflow` first, so on another backend the user gets one clear line naming the
alternative before any work, instead of an ImportError or a TensorFlow op fed a JAX array.
"""

import importlib

import keras


class BackendError(RuntimeError):
    """A TensorFlow-only kerasopt object was used on another Keras backend."""


def backend():
    """The name of the Keras backend in use ("tensorflow", "jax", "torch", "numpy")."""
    return keras.backend.backend()


def is_tensorflow():
    """Whether Keras runs on the TensorFlow backend."""
    return backend() == "tensorflow"


def require_tensorflow(what, alternative=None):
    """Raise `BackendError` naming `what`, the backend received and `alternative` (what to use
    on this backend) unless Keras runs on TensorFlow."""
    received = backend()
    if received == "tensorflow":
        return
    hint = f" On the {received} backend, use {alternative}." if alternative else ""
    raise BackendError(
        f"{what} needs the TensorFlow backend. Received: KERAS_BACKEND={received!r}. "
        f"Set KERAS_BACKEND=tensorflow.{hint}"
    )


def model_step(model, stateful_step, args, training):
    """Run a `train_step` / `test_step` written statefully (`stateful_step(data)` assigns the
    model's, optimizer's and metrics' variables) on every backend.

    TensorFlow and PyTorch call `train_step(data)`; JAX calls `train_step(state, data)` and
    expects `(logs, new_state)` (Keras' stateless trainer). There the step runs inside a
    `keras.StatelessScope` mapping every variable to its value in `state`, and the new state
    is read back from the scope: one stateful implementation serves every backend.
    """
    if len(args) == 1:
        return stateful_step(args[0])
    state, data = args
    groups = [model.trainable_variables, model.non_trainable_variables]
    if training:
        groups.append(model.optimizer.variables)
    groups.append(model.metrics_variables)
    mapping = [
        (ref, value)
        for refs, values in zip(groups, state, strict=True)
        for ref, value in zip(refs, values, strict=True)
    ]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = stateful_step(data)
    new_state = tuple(
        [
            value if (current := scope.get_current_value(ref)) is None else current
            for ref, value in zip(refs, values, strict=True)
        ]
        for refs, values in zip(groups, state, strict=True)
    )
    return logs, new_state


class _LazyModule:
    """A module imported at the first attribute access (`tf.function` imports TensorFlow)."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self):
        return f"<lazy module {self._name!r}>"


tf = _LazyModule("tensorflow")
