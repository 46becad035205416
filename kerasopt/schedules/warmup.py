"""Linear warm-up in front of any schedule or constant rate (Goyal et al. 2017)."""

import keras
from keras import ops

from kerasopt._validation import check_int, check_number, check_range
from kerasopt.schedules._math import as_float, linear_anneal


@keras.saving.register_keras_serializable(package="kerasopt")
class Warmup(keras.optimizers.schedules.LearningRateSchedule):
    """Ramp linearly from `start` to the wrapped schedule's first rate, then follow it.

    Goyal et al. 2017, "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", sec. 2.2
    (gradual warm-up). For step < warmup_steps the rate is
    `start + (target - start) * step / warmup_steps` with `target = inner(0)`; from
    `warmup_steps` on it is `inner(step - warmup_steps)`, i.e. the wrapped schedule starts
    after the warm-up (as Keras' own `CosineDecay(warmup_steps=...)` does).

    Args:
        schedule_or_value: a `LearningRateSchedule` or a constant rate (number >= 0).
        warmup_steps: length of the ramp, an integer >= 0 (0 means no warm-up).
        start: the rate at step 0, a number >= 0.

    Example:
        >>> from kerasopt.schedules import Warmup
        >>> lr = Warmup(0.1, warmup_steps=4)
        >>> [round(float(lr(step)), 4) for step in (0, 2, 4, 10)]
        [0.0, 0.05, 0.1, 0.1]

    References:
        Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017
        (arXiv:1706.02677).
    """

    def __init__(self, schedule_or_value, warmup_steps, start=0.0):
        if not isinstance(schedule_or_value, keras.optimizers.schedules.LearningRateSchedule):
            check_number("schedule_or_value", schedule_or_value)
            check_range("schedule_or_value", schedule_or_value, low=0)
        self.schedule_or_value = schedule_or_value
        self.warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
        self.start = check_range("start", start, low=0)

    def _inner(self, step):
        if isinstance(self.schedule_or_value, keras.optimizers.schedules.LearningRateSchedule):
            return ops.cast(self.schedule_or_value(step), "float32")
        return ops.convert_to_tensor(self.schedule_or_value, "float32")

    def __call__(self, step):
        step = as_float(step)
        if self.warmup_steps == 0:
            return self._inner(step)
        ramp = linear_anneal(self.start, self._inner(0.0), step / float(self.warmup_steps))
        after = self._inner(ops.maximum(step - float(self.warmup_steps), 0.0))
        return ops.where(step < float(self.warmup_steps), ramp, after)

    def get_config(self):
        inner = self.schedule_or_value
        if isinstance(inner, keras.optimizers.schedules.LearningRateSchedule):
            inner = keras.saving.serialize_keras_object(inner)
        return {"schedule_or_value": inner, "warmup_steps": self.warmup_steps, "start": self.start}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["schedule_or_value"], dict):
            config["schedule_or_value"] = keras.saving.deserialize_keras_object(
                config["schedule_or_value"]
            )
        return cls(**config)
