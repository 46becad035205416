"""The 1cycle policy (Smith & Topin 2018, "Super-Convergence"; Smith 2018, arXiv:1803.09820)."""

import keras
from keras import ops

from kerasopt._validation import check_int, check_positive, check_range
from kerasopt.schedules._math import as_float, cosine_anneal


@keras.saving.register_keras_serializable(package="kerasopt")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """One cycle: up from `max_lr / div_factor` to `max_lr`, then down far below the start.

    Smith & Topin 2018 (sec. 3) use one triangular cycle followed by an annihilation phase;
    this is the widely used cosine form (fastai / PyTorch `OneCycleLR(anneal_strategy="cos")`):
    with u = pct_start * total_steps,
    - steps [0, u]: cosine from `initial = max_lr / div_factor` up to `max_lr`;
    - steps [u, total_steps]: cosine from `max_lr` down to `initial / final_div_factor`;
    - after total_steps: stays at `initial / final_div_factor`.

    `interpolate(step, start, peak, end)` evaluates the same two-phase shape for any three
    values; `kerasopt.callbacks.MomentumCycle` uses it to cycle momentum inversely.

    Args:
        max_lr: the peak rate, > 0.
        total_steps: length of the cycle in steps, an integer >= 2.
        pct_start: fraction of the steps spent rising, in (0, 1).
        div_factor: `max_lr / initial rate`, >= 1.
        final_div_factor: `initial rate / final rate`, >= 1.

    Example:
        >>> from kerasopt.schedules import OneCycle
        >>> lr = OneCycle(max_lr=1.0, total_steps=10, pct_start=0.3, div_factor=25.0, final_div_factor=1e4)
        >>> round(float(lr(0)), 6), round(float(lr(3)), 6), round(float(lr(10)), 8)  # 1/25, peak, 1/25/1e4
        (0.04, 1.0, 4e-06)

    References:
        Smith & Topin, "Super-Convergence: Very Fast Training of Neural Networks Using Large
        Learning Rates", 2018 (arXiv:1708.07120); Smith, arXiv:1803.09820, 2018.
    """

    def __init__(self, max_lr, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
        self.max_lr = check_positive("max_lr", max_lr)
        self.total_steps = check_int("total_steps", total_steps, minimum=2)
        self.pct_start = check_range(
            "pct_start", pct_start, low=0, high=1, low_inclusive=False, high_inclusive=False
        )
        self.div_factor = check_range("div_factor", div_factor, low=1)
        self.final_div_factor = check_range("final_div_factor", final_div_factor, low=1)

    @property
    def initial_lr(self):
        return self.max_lr / self.div_factor

    @property
    def final_lr(self):
        return self.initial_lr / self.final_div_factor

    def interpolate(self, step, start, peak, end):
        """The cycle's shape through `start` (step 0), `peak` (step u) and `end` (total_steps)."""
        step = as_float(step)
        up = self.pct_start * self.total_steps
        rising = cosine_anneal(start, peak, step, up)
        falling = cosine_anneal(peak, end, step - up, self.total_steps - up)
        return ops.where(step <= up, rising, falling)

    def __call__(self, step):
        return self.interpolate(step, self.initial_lr, self.max_lr, self.final_lr)

    def get_config(self):
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
        }
