"""Cycle momentum (or Adam's beta_1) inversely to a OneCycle learning rate (Smith 2018, sec. 4.3).

Every backend: for the duration of `fit`, `step_momentum` hooks the optimizer's own update so
that each step uses the momentum of its step, computed inside the compiled step from the
optimizer's `iterations` (already part of the state JAX's stateless step carries). The
optimizer's attributes stay plain floats, and no state is added.
"""

import keras
from keras import ops

from kerasopt._validation import check_range
from kerasopt.schedules.one_cycle import OneCycle

# The optimizers whose update reads `momentum` (and branches on it in Python), with the
# attribute that holds their velocity slots (one per trained variable, made by `build`).
_VELOCITIES = {keras.optimizers.SGD: "momentums", keras.optimizers.RMSprop: "_momentums"}


def _velocity_slots(optimizer):
    for kind, slots in _VELOCITIES.items():
        if isinstance(optimizer, kind):
            return slots
    raise ValueError(
        "Argument `optimizer` must have `beta_1`, or a nonzero `momentum` as SGD and RMSprop "
        f"have. Received: optimizer={type(optimizer).__name__}"
    )


def step_momentum(optimizer, value_at_step):
    """Make `optimizer` use momentum `value_at_step(step)` at each step; returns the undo.

    The hook for schedules of momentum inside a compiled step, as optax's
    `inject_hyperparams` is for JAX optimizers (Smith 2018, sec. 4.3 cycles momentum).
    `step` is the optimizer's `iterations` before the step (a tensor inside the step).
    - `beta_1` optimizers (Adam, AdamW, Nadam, Adamax, Lamb, Lion) only do arithmetic with
      it: `apply` runs with `beta_1` set to the step's value, then the float is restored.
    - `momentum` optimizers (SGD, RMSprop) branch on the float in Python (`if momentum > 0`),
      so it stays a float mu_0 (> 0): each `update_step` first rescales the variable's
      velocity v by mu_k / mu_0, so that their own rule mu_0 · v' + ... is mu_k · v + ...;
      SGD's Nesterov step, which uses mu again on the new velocity, adds (mu_k − mu_0) · v.
    Both run inside the optimizer's own update (on TensorFlow, inside the cross-replica
    update of `tf.distribute`), under `jit_compile` on every backend.

    Args:
        optimizer: a `keras.optimizers.Optimizer` with `beta_1` or a nonzero `momentum`.
        value_at_step: a function of the step (a tensor) returning the momentum.

    Example:
        >>> import keras, numpy as np
        >>> optimizer = keras.optimizers.SGD(0.1, momentum=0.5)
        >>> undo = step_momentum(optimizer, lambda step: 0.0)  # momentum 0 at every step
        >>> w = keras.Variable(np.zeros(1, "float32"))
        >>> for _ in range(2):
        ...     optimizer.apply([np.ones(1, "float32")], [w])
        >>> float(w.numpy()[0])  # two plain gradient steps: no velocity carried over
        -0.2...
        >>> undo(); optimizer.momentum
        0.5

    References:
        Smith, "A disciplined approach to neural network hyper-parameters: Part 1", arXiv:1803.09820, 2018.
    """
    attribute = next((a for a in ("beta_1", "momentum") if hasattr(optimizer, a)), None)
    if attribute is None or getattr(optimizer, attribute) == 0:
        raise ValueError(
            "MomentumCycle needs an optimizer with `beta_1` or a nonzero `momentum`. "
            f"Received: optimizer={type(optimizer).__name__}"
        )
    if attribute == "beta_1":
        apply = optimizer.apply

        def hooked_apply(grads, trainable_variables=None):
            static = optimizer.beta_1
            object.__setattr__(optimizer, "beta_1", value_at_step(optimizer.iterations))
            try:
                return apply(grads, trainable_variables)
            finally:
                object.__setattr__(optimizer, "beta_1", static)

        hooks = {"apply": hooked_apply}
    else:
        slots = _velocity_slots(optimizer)
        update_step = optimizer.update_step

        def hooked_update_step(gradient, variable, learning_rate):
            static = optimizer.momentum  # the float the optimizer's own rule multiplies by
            value = ops.cast(value_at_step(optimizer.iterations), variable.dtype)
            velocity = getattr(optimizer, slots)[optimizer._get_variable_index(variable)]
            optimizer.assign(velocity, velocity * (value / static))
            update_step(gradient, variable, learning_rate)
            if getattr(optimizer, "nesterov", False):
                optimizer.assign_add(variable, (value - static) * velocity)

        hooks = {"update_step": hooked_update_step}
    # instance attributes shadow the methods; Keras' attribute tracking is bypassed
    for name, hook in hooks.items():
        object.__setattr__(optimizer, name, hook)

    def undo():
        for name in hooks:
            object.__delattr__(optimizer, name)

    return undo


@keras.saving.register_keras_serializable(package="kerasopt")
class MomentumCycle(keras.callbacks.Callback):
    """Momentum falls while the learning rate rises, and rises while it falls.

    Smith 2018 ("A disciplined approach to neural network hyper-parameters", sec. 4.3) and
    Smith & Topin 2018: with a OneCycle rate, cycle momentum from `max_momentum` down to
    `base_momentum` at the rate's peak and back to `max_momentum` at the end. Works on
    optimizers with a `momentum` (SGD, RMSprop; must be > 0 so the optimizer keeps a
    velocity) or a `beta_1` (Adam, AdamW, Nadam, Adamax, Lamb, Lion). The optimizer's
    iteration counter is the step (`step_momentum` is the hook). The optimizer's attribute
    stays a plain float, the last momentum used, after `fit` and during it, so a model saved
    during `fit` (e.g. by ModelCheckpoint) records the current momentum.

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
        self._undo = None
        self._step = self._epoch_start = 0

    def momentum(self, step):
        """The momentum for `step`: the OneCycle shape through max, base, max."""
        return self.schedule.interpolate(
            step, self.max_momentum, self.base_momentum, self.max_momentum
        )

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        self._undo = step_momentum(optimizer, lambda step: self.momentum(ops.cast(step, "float32")))
        self._attribute = "beta_1" if hasattr(optimizer, "beta_1") else "momentum"
        self._step = int(ops.convert_to_numpy(optimizer.iterations))
        self.model.make_train_function(force=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._step

    def on_train_batch_end(self, batch, logs=None):
        # the optimizer's float follows the last step taken (counted here, so that JAX's
        # state need not be synced): a save during fit (ModelCheckpoint) records it
        self._step = self._epoch_start + batch + 1
        last = float(ops.convert_to_numpy(self.momentum(float(max(self._step - 1, 0)))))
        object.__setattr__(self.model.optimizer, self._attribute, last)

    def on_train_end(self, logs=None):
        self._undo()
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
