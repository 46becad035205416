"""Cyclical learning rates (Smith 2017, "Cyclical Learning Rates for Training Neural Networks")."""

import math

import keras
from keras import ops

from kerasopt._validation import check_choice, check_int, check_range
from kerasopt.schedules._math import as_float


@keras.saving.register_keras_serializable(package="kerasopt")
class CyclicLR(keras.optimizers.schedules.LearningRateSchedule):
    """Triangular cycles between `min_lr` and `max_lr` (Smith 2017, sec. 3.1).

    A cycle lasts `up + down` steps (`up = step_size`, `down = step_size_down`, by default
    `step_size`): the rate rises linearly for `up` steps and falls for `down` steps. With
    `position = step mod (up + down)` and `cycle = 1 + floor(step / (up + down))`:

        height = position / up                    if position <= up,
                 (up + down - position) / down    otherwise,
        lr = min_lr + (max_lr - min_lr) * height * scale_fn(u),

    where u is `cycle` (scale_mode="cycle") or `step` (scale_mode="iterations"). The modes
    name Smith's scale functions: 1 ("triangular"), 1 / 2^(u - 1) ("triangular2": the
    amplitude halves every cycle) and gamma^u ("exp_range", evaluated as exp(u log gamma) so
    that float32 keeps a relative error of about 1e-7 over thousands of steps; gamma^u with
    gamma rounded to float32 drifts by u times gamma's rounding error). For symmetric cycles
    this is Smith's cycle = floor(1 + step / (2 step_size)), x = |step / step_size - 2 cycle +
    1|, height = max(0, 1 - x); the position is formed exactly (an integer remainder), so the
    height does not lose digits near the bottom of a cycle.

    Same values as PyTorch's `torch.optim.lr_scheduler.CyclicLR(base_lr=min_lr, max_lr,
    step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode)` after `step` scheduler
    steps, and as tensorflow-addons' `CyclicalLearningRate` for symmetric cycles.

    Custom scale functions: `scale_fn(u)` receives a float32 tensor (the cycle number from 1,
    or the step from 0) and returns the factor, written with `keras.ops` so that it runs
    inside a compiled train step. It overrides `mode` and `gamma`. To save a model that uses
    one, define it as a module-level function registered with
    `keras.saving.register_keras_serializable()`: `get_config` then holds its registered name
    and `from_config` (and `keras.models.load_model`) finds it again. A lambda is saved as
    bytecode, with Keras' warning, and loading it needs `safe_mode=False`. The three modes
    need no function: they are saved by name.

    Args:
        min_lr: lower bound, a number >= 0.
        max_lr: upper bound, a number >= min_lr.
        step_size: steps of the rising half of a cycle, an integer >= 1 (Smith: 2-10
            epochs' worth).
        mode: "triangular", "triangular2" or "exp_range" (ignored when `scale_fn` is given).
        gamma: decay per step of the amplitude in "exp_range", in (0, 1].
        step_size_down: steps of the falling half, an integer >= 1; None: `step_size`.
        scale_fn: None (use `mode`) or a callable u -> factor, as described above.
        scale_mode: "cycle" or "iterations": what `scale_fn` (or the mode's function) is
            evaluated at; None: "iterations" for "exp_range" and "cycle" otherwise (also
            "cycle" for a custom `scale_fn`), the defaults of PyTorch and tensorflow-addons.

    Example:
        >>> from kerasopt.schedules import CyclicLR
        >>> lr = CyclicLR(min_lr=0.1, max_lr=0.5, step_size=2)
        >>> [round(float(lr(step)), 4) for step in range(6)]
        [0.1, 0.3, 0.5, 0.3, 0.1, 0.3]
        >>> half = CyclicLR(0.1, 0.5, 2, mode="triangular2")
        >>> round(float(half(6)), 4)  # second peak: half the amplitude
        0.3
        >>> saw = CyclicLR(0.0, 1.0, step_size=1, step_size_down=3)  # up in 1 step, down in 3
        >>> [round(float(saw(step)), 4) for step in range(5)]
        [0.0, 1.0, 0.6667, 0.3333, 0.0]
        >>> per_cycle = CyclicLR(0.0, 1.0, 2, mode="exp_range", gamma=0.5, scale_mode="cycle")
        >>> round(float(per_cycle(2)), 4), round(float(per_cycle(6)), 4)  # gamma^1, gamma^2
        (0.5, 0.25)

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017, sec. 3.1.
    """

    MODES = ("triangular", "triangular2", "exp_range")
    SCALE_MODES = ("cycle", "iterations")

    def __init__(
        self,
        min_lr,
        max_lr,
        step_size,
        mode="triangular",
        gamma=1.0,
        step_size_down=None,
        scale_fn=None,
        scale_mode=None,
    ):
        self.min_lr = check_range("min_lr", min_lr, low=0)
        self.max_lr = check_range("max_lr", max_lr, low=min_lr)
        self.step_size = check_int("step_size", step_size, minimum=1)
        self.mode = check_choice("mode", mode, self.MODES)
        self.gamma = check_range("gamma", gamma, low=0, high=1, low_inclusive=False)
        self.step_size_down = (
            self.step_size
            if step_size_down is None
            else check_int("step_size_down", step_size_down, minimum=1)
        )
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(
                f"Argument `scale_fn` must be None or a callable. Received: scale_fn={scale_fn!r}"
            )
        self.scale_fn = scale_fn
        if scale_mode is None:
            scale_mode = "iterations" if scale_fn is None and mode == "exp_range" else "cycle"
        self.scale_mode = check_choice("scale_mode", scale_mode, self.SCALE_MODES)

    def _scale(self, u):
        if self.scale_fn is not None:
            return ops.cast(self.scale_fn(u), "float32")
        if self.mode == "triangular2":
            return ops.power(0.5, u - 1.0)
        if self.mode == "exp_range":
            return ops.exp(u * math.log(self.gamma))
        return ops.ones_like(u)

    def __call__(self, step):
        step = as_float(step)
        period = float(self.step_size + self.step_size_down)
        position = ops.mod(step, period)  # exact for integer-valued steps
        cycle = (step - position) / period + 1.0
        height = ops.where(
            position <= self.step_size,
            position / float(self.step_size),
            (period - position) / float(self.step_size_down),
        )
        scale = self._scale(cycle if self.scale_mode == "cycle" else step)
        return self.min_lr + (self.max_lr - self.min_lr) * height * scale

    def get_config(self):
        return {
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "step_size": self.step_size,
            "mode": self.mode,
            "gamma": self.gamma,
            "step_size_down": self.step_size_down,
            "scale_fn": (
                None
                if self.scale_fn is None
                else keras.saving.serialize_keras_object(self.scale_fn)
            ),
            "scale_mode": self.scale_mode,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("scale_fn") is not None:
            config["scale_fn"] = keras.saving.deserialize_keras_object(config["scale_fn"])
        return cls(**config)
