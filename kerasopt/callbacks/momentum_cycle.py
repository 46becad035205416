"""Cycle momentum (or Adam's beta_1) inversely to a OneCycle learning rate (Smith 2018, sec. 4.3).

Every backend: for the duration of `fit` the optimizer's Python hyperparameter is swapped for
an object that computes the momentum from the optimizer's own step counter wherever the
update reads it, so a traced (even XLA-compiled) train step follows the cycle with no extra
optimizer state: `iterations` is already part of the state that JAX's stateless train step
carries.
"""

import operator

import keras
from keras import ops

from kerasopt._validation import check_range
from kerasopt.schedules.one_cycle import OneCycle


class _StepHyperparameter:
    """A hyperparameter computed from the optimizer's step counter inside traced code.

    Comparisons (`if self.momentum != 0:` in optimizer code, which decides the optimizer's
    structure) answer with the value the optimizer was built with; arithmetic and tensor
    conversion (`ops.cast`, `__jax_array__`, TensorFlow's conversion registry) compute the
    value for the step being taken, so the compiled step sees the cycle.
    """

    def __init__(self, static_value, value_at_step, optimizer):
        self.static_value = float(static_value)
        self.value_at_step = value_at_step
        self.optimizer = optimizer

    def value(self):
        """The value for the step in progress (`iterations` counts the steps before it)."""
        return ops.cast(self.value_at_step(self.optimizer.iterations), "float32")

    def last_used(self):
        """The value the last completed step used, as a Python float."""
        step = max(int(ops.convert_to_numpy(self.optimizer.iterations)) - 1, 0)
        return float(ops.convert_to_numpy(self.value_at_step(step)))

    def _compare(op):
        return lambda self, other: op(self.static_value, other)

    __eq__ = _compare(operator.eq)
    __ne__ = _compare(operator.ne)
    __lt__ = _compare(operator.lt)
    __le__ = _compare(operator.le)
    __gt__ = _compare(operator.gt)
    __ge__ = _compare(operator.ge)
    __hash__ = object.__hash__

    def _arith(op, reflected=False):
        if reflected:
            return lambda self, other: op(other, self.value())
        return lambda self, other: op(self.value(), other)

    __add__, __radd__ = _arith(operator.add), _arith(operator.add, True)
    __sub__, __rsub__ = _arith(operator.sub), _arith(operator.sub, True)
    __mul__, __rmul__ = _arith(operator.mul), _arith(operator.mul, True)
    __truediv__, __rtruediv__ = _arith(operator.truediv), _arith(operator.truediv, True)
    __pow__, __rpow__ = _arith(operator.pow), _arith(operator.pow, True)

    def __float__(self):
        return self.last_used()

    def __jax_array__(self):
        return self.value()


_TF_CONVERSION_REGISTERED = False


def _register_tf_conversion():
    """Lets `tf.convert_to_tensor` (behind `ops.cast` on TensorFlow) read the value."""
    global _TF_CONVERSION_REGISTERED
    if _TF_CONVERSION_REGISTERED:
        return
    import tensorflow as tf

    def convert(value, dtype=None, name=None, as_ref=False):
        tensor = value.value()
        return tf.cast(tensor, dtype) if dtype is not None else tensor

    tf.register_tensor_conversion_function(_StepHyperparameter, convert)
    _TF_CONVERSION_REGISTERED = True


@keras.saving.register_keras_serializable(package="kerasopt")
class MomentumCycle(keras.callbacks.Callback):
    """Momentum falls while the learning rate rises, and rises while it falls.

    Smith 2018 ("A disciplined approach to neural network hyper-parameters", sec. 4.3) and
    Smith & Topin 2018: with a OneCycle rate, cycle momentum from `max_momentum` down to
    `base_momentum` at the rate's peak and back to `max_momentum` at the end. Works on
    optimizers with a `momentum` (SGD, RMSprop; must be > 0 so the optimizer keeps a
    velocity) or a `beta_1` (Adam, AdamW, Nadam, Adamax, Lamb, Lion). The optimizer's
    iteration counter is the step. After `fit` the optimizer holds a plain float again (the
    last momentum used); a model saved during `fit` (e.g. by ModelCheckpoint) records the
    current momentum as a float.

    Args:
        schedule: the `kerasopt.schedules.OneCycle` driving the learning rate.
        base_momentum: momentum at the rate's peak, in [0, 1).
        max_momentum: momentum at the start and the end, in [base_momentum, 1).

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.callbacks import MomentumCycle
        >>> from kerasopt.schedules import OneCycle
        >>> x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> one_cycle = OneCycle(max_lr=0.1, total_steps=4)
        >>> model.compile(optimizer=keras.optimizers.SGD(one_cycle, momentum=0.9), loss="mse")
        >>> cycle = MomentumCycle(one_cycle, base_momentum=0.85, max_momentum=0.95)
        >>> _ = model.fit(x, y, batch_size=2, epochs=1, verbose=0, callbacks=[cycle])
        >>> round(float(cycle.momentum(0)), 4), round(float(cycle.momentum(1.2)), 4)  # max at the start, base at the peak rate
        (0.95, 0.85)

    References:
        Smith, "A disciplined approach to neural network hyper-parameters: Part 1", arXiv:1803.09820, 2018.
    """

    def __init__(self, schedule, base_momentum=0.85, max_momentum=0.95):
        super().__init__()
        if not isinstance(schedule, OneCycle):
            raise TypeError(
                f"Argument `schedule` must be a kerasopt.schedules.OneCycle. Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        self.base_momentum = check_range(
            "base_momentum", base_momentum, low=0, high=1, high_inclusive=False
        )
        self.max_momentum = check_range(
            "max_momentum", max_momentum, low=base_momentum, high=1, high_inclusive=False
        )
        self._attribute = None
        self._value = None

    def momentum(self, step):
        """The momentum for `step`: the OneCycle shape through max, base, max."""
        return self.schedule.interpolate(
            step, self.max_momentum, self.base_momentum, self.max_momentum
        )

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        self._attribute = next((a for a in ("beta_1", "momentum") if hasattr(optimizer, a)), None)
        if self._attribute is None or getattr(optimizer, self._attribute) == 0:
            raise ValueError(
                "MomentumCycle needs an optimizer with `beta_1` or a nonzero `momentum`. "
                f"Received: optimizer={type(optimizer).__name__}"
            )
        if keras.backend.backend() == "tensorflow":
            _register_tf_conversion()
        self._value = _StepHyperparameter(
            getattr(optimizer, self._attribute), self.momentum, optimizer
        )
        # bypass Keras' attribute tracking: the value is not optimizer state to save
        object.__setattr__(optimizer, self._attribute, self._value)
        # a save during fit (ModelCheckpoint) records the last value used as a plain float
        plain_config = optimizer.get_config
        object.__setattr__(
            optimizer, "get_config", lambda: {**plain_config(), self._attribute: float(self._value)}
        )
        self.model.make_train_function(force=True)

    def on_train_end(self, logs=None):
        object.__delattr__(self.model.optimizer, "get_config")
        object.__setattr__(self.model.optimizer, self._attribute, float(self._value))
        self.model.make_train_function(force=True)

    def get_config(self):
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "base_momentum": self.base_momentum,
            "max_momentum": self.max_momentum,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)
