"""Cyclical learning rates (Smith 2017, "Cyclical Learning Rates for Training Neural Networks")."""

import keras
from keras import ops

from kerasopt._validation import check_choice, check_int, check_range
from kerasopt.schedules._math import as_float


@keras.saving.register_keras_serializable(package="kerasopt")
class CyclicLR(keras.optimizers.schedules.LearningRateSchedule):
    """Triangular cycles between `min_lr` and `max_lr` (Smith 2017, sec. 3.1).

    cycle = floor(1 + step / (2 step_size)), x = |step / step_size - 2 cycle + 1|,
    lr = min_lr + (max_lr - min_lr) * max(0, 1 - x) * scale, where scale is 1
    ("triangular"), 1 / 2^(cycle - 1) ("triangular2": the amplitude halves every cycle) or
    gamma^step ("exp_range").

    Args:
        min_lr: lower bound, a number >= 0.
        max_lr: upper bound, a number >= min_lr.
        step_size: half a cycle in steps, an integer >= 1 (Smith: 2-10 epochs' worth).
        mode: "triangular", "triangular2" or "exp_range".
        gamma: decay per step of the amplitude in "exp_range", in (0, 1].

    Example:
        >>> from kerasopt.schedules import CyclicLR
        >>> lr = CyclicLR(min_lr=0.1, max_lr=0.5, step_size=2)
        >>> [round(float(lr(step)), 4) for step in range(6)]
        [0.1, 0.3, 0.5, 0.3, 0.1, 0.3]
        >>> half = CyclicLR(0.1, 0.5, 2, mode="triangular2")
        >>> round(float(half(6)), 4)  # second peak: half the amplitude
        0.3

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017, sec. 3.1.
    """

    MODES = ("triangular", "triangular2", "exp_range")

    def __init__(self, min_lr, max_lr, step_size, mode="triangular", gamma=1.0):
        self.min_lr = check_range("min_lr", min_lr, low=0)
        self.max_lr = check_range("max_lr", max_lr, low=min_lr)
        self.step_size = check_int("step_size", step_size, minimum=1)
        self.mode = check_choice("mode", mode, self.MODES)
        self.gamma = check_range("gamma", gamma, low=0, high=1, low_inclusive=False)

    def __call__(self, step):
        step = as_float(step)
        cycle = ops.floor(1.0 + step / (2.0 * self.step_size))
        x = ops.abs(step / float(self.step_size) - 2.0 * cycle + 1.0)
        height = ops.maximum(0.0, 1.0 - x)
        if self.mode == "triangular2":
            height = height / ops.power(2.0, cycle - 1.0)
        elif self.mode == "exp_range":
            height = height * ops.power(ops.convert_to_tensor(self.gamma, "float32"), step)
        return self.min_lr + (self.max_lr - self.min_lr) * height

    def get_config(self):
        return {
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "step_size": self.step_size,
            "mode": self.mode,
            "gamma": self.gamma,
        }
