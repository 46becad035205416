"""Shared mechanics of the kerasopt optimizer wrappers (Averaged, Lookahead, BlockCoordinate).

A wrapper owns an inner `keras.optimizers.Optimizer` that does the actual gradient step
(with its own learning rate, schedule, clipping, weight decay and slots). The wrapper
delegates `iterations`, `learning_rate`, `loss_scale_factor` and `scale_loss` to it,
lists its own variables followed by the inner ones (so `model.save` stores both), and
serializes the inner optimizer under the config key `"optimizer"`. The design follows
Keras' own `LossScaleOptimizer`.

Per-variable state written after the inner step goes through `_update_each`. On TensorFlow
it uses `tf.distribute`'s cross-replica `extended.update`, so that mirrored slots stay
identical on every replica. Updates that happen only on some steps (Lookahead's
synchronisation) are branch-free blends with a 0/1 factor: on JAX and PyTorch the step runs
statelessly and a variable assigned inside a traced conditional would leak (Keras' own JAX
optimizer applies `ema_overwrite_frequency` the same way), and on TensorFlow one
conditional around all variables measured slower than the blend
(`benchmarks/optimizer_overhead.py`).
"""

import functools

import keras
from keras.src.utils import tracking

from kerasopt._validation import _fail


def get_optimizer(name, identifier):
    """`identifier` resolved like `model.compile(optimizer=...)` does (`keras.optimizers.get`):
    an optimizer instance, a name such as `"adam"` or a serialized config dict."""
    if isinstance(identifier, (str, dict)):
        try:
            identifier = keras.optimizers.get(identifier)
        except (ValueError, TypeError):
            _fail(name, "an optimizer name or config that keras.optimizers.get knows", identifier)
    if not isinstance(identifier, keras.optimizers.Optimizer):
        _fail(
            name,
            'a keras.optimizers.Optimizer, an optimizer name (e.g. "adam") or a config dict',
            identifier,
            TypeError,
        )
    return identifier


class OptimizerWrapper(keras.optimizers.Optimizer):
    """Base class: an optimizer that runs `optimizer` and adds work around its steps.

    Subclasses override `_build_wrapper(var_list)` (create slots), `_after_step()` (work
    after the inner step, e.g. averaging) and, when the inner step itself changes,
    `_wrapped_apply(grads, variables)`; they add their arguments to `get_config`.
    """

    def __init__(self, optimizer, name=None):
        optimizer = get_optimizer("optimizer", optimizer)
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            _fail(
                "optimizer",
                "an optimizer other than LossScaleOptimizer (wrap this optimizer in "
                "LossScaleOptimizer instead, as Keras does for mixed_float16)",
                optimizer,
            )
        if optimizer.gradient_accumulation_steps:
            _fail("optimizer", "an optimizer without gradient_accumulation_steps", optimizer)
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = optimizer

    # --- delegation to the inner optimizer -------------------------------------------
    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    @property
    def loss_scale_factor(self):
        inner = self.__dict__.get("inner_optimizer")
        return None if inner is None else inner.loss_scale_factor

    @loss_scale_factor.setter
    def loss_scale_factor(self, value):
        # BaseOptimizer.__init__ sets it before the inner optimizer exists; afterwards
        # (e.g. LossScaleOptimizer switching it off) it must reach the inner optimizer,
        # which is the one that unscales the gradients.
        inner = self.__dict__.get("inner_optimizer")
        if inner is not None:
            inner.loss_scale_factor = value

    def scale_loss(self, loss):
        return self.inner_optimizer.scale_loss(loss)

    @property
    def variables(self):
        return self._variables[:] + self.inner_optimizer.variables

    # --- building and applying ----------------------------------------------------------
    @tracking.no_automatic_dependency_tracking
    def build(self, var_list):
        if not self.inner_optimizer.built:
            self.inner_optimizer.build(var_list)
        self._build_wrapper(var_list)
        super().build(var_list)

    def _build_wrapper(self, var_list):
        """Creates the wrapper's own slots (default: none)."""

    def apply(self, grads, trainable_variables=None):
        if len(grads) == 0:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer must already "
                    "be built. Call `optimizer.build(trainable_variables)` first."
                )
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            if not self.built:
                with keras.name_scope(self.name, caller=self):
                    self.build(trainable_variables)
                self.built = True
        self._wrapped_apply(list(grads), trainable_variables)

    def _wrapped_apply(self, grads, variables):
        self.inner_optimizer.apply(grads, variables)
        self._after_step()

    def _after_step(self):
        """Work after the inner step (default: none)."""

    def _update_each(self, fn):
        """Assigns, for every built model variable, the pairs `fn(variable, index)` returns.

        `fn(variable, index) -> [(target, new_value), ...]`: `variable` is the model variable
        (on TensorFlow the per-device copy), `index` its position in the list the optimizer
        was built with, `target` that variable or one of the wrapper's slots.
        """

        def assign(variable, index):
            for target, value in fn(variable, index):
                self.assign(target, value)

        if keras.backend.backend() != "tensorflow":
            for index, variable in enumerate(self._trainable_variables):
                assign(variable, index)
            return
        import tensorflow as tf

        variables = [
            v.value if isinstance(v, keras.Variable) else v for v in self._trainable_variables
        ]

        def merge_fn(distribution, variables):
            for index, variable in enumerate(variables):
                distribution.extended.update(
                    variable, functools.partial(assign, index=index), group=False
                )

        tf.__internal__.distribute.interim.maybe_merge_call(
            merge_fn, self._distribution_strategy, variables
        )

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    # --- serialization ------------------------------------------------------------------
    def get_config(self):
        # Not super().get_config(): the base arguments (clipping, weight decay, ...) belong
        # to the inner optimizer.
        return {
            "name": self.name,
            "optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["optimizer"] = keras.saving.deserialize_keras_object(
            config["optimizer"], custom_objects=custom_objects
        )
        return cls(**config)
