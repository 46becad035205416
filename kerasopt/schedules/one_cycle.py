"""The 1cycle policy (Smith & Topin 2018, "Super-Convergence"; Smith 2018, arXiv:1803.09820)."""

import keras
from keras import ops

from kerasopt._validation import check_bool, check_choice, check_int, check_positive, check_range
from kerasopt.schedules._math import as_float, cosine_anneal, linear_anneal_steps


@keras.saving.register_keras_serializable(package="kerasopt")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """One cycle: up from `max_lr / div_factor` to `max_lr`, then down far below the start.

    Smith & Topin 2018 (sec. 3) use one triangular cycle followed by an annihilation phase;
    the default is the widely used two-phase cosine form (fastai / PyTorch
    `OneCycleLR(anneal_strategy="cos")`): with u = pct_start * total_steps,
    - steps [0, u]: from `initial = max_lr / div_factor` up to `max_lr`;
    - steps [u, total_steps]: from `max_lr` down to `final = initial / final_div_factor`;
    - after total_steps: stays at `final`.

    `three_phase=True` is the paper's shape (PyTorch's `three_phase=True`): up from `initial`
    to `max_lr` on [0, u], back down to `initial` on [u, 2u] (symmetric), then the
    annihilation from `initial` to `final` on [2u, total_steps]. Each phase anneals by half a
    cosine (`anneal_strategy="cos"`) or linearly (`"linear"`).

    Step indexing: PyTorch's phases end at steps pct_start * T - 1, (2 pct_start T - 2) and
    T - 1 for `total_steps=T`; here at u, 2u and total_steps. `OneCycle(total_steps=T - 1,
    pct_start=(pct_start * T - 1) / (T - 1))` gives PyTorch's values at steps 0 ... T - 1,
    in both shapes and both annealing strategies (PyTorch refuses steps beyond T).

    `interpolate(step, start, peak, end)` evaluates the same two-phase shape for any three
    values; `kerasopt.callbacks.MomentumCycle` uses it to cycle momentum inversely.

    Args:
        max_lr: the peak rate, > 0.
        total_steps: length of the cycle in steps, an integer >= 2.
        pct_start: fraction of the steps spent rising, in (0, 1).
        div_factor: `max_lr / initial rate`, >= 1.
        final_div_factor: `initial rate / final rate`, >= 1.
        anneal_strategy: "cos" (half a cosine per phase) or "linear".
        three_phase: False (two phases) or True (up, symmetric down, annihilation; needs
            pct_start < 0.5).

    Example:
        >>> from kerasopt.schedules import OneCycle
        >>> lr = OneCycle(max_lr=1.0, total_steps=10, pct_start=0.3, div_factor=25.0, final_div_factor=1e4)
        >>> round(float(lr(0)), 6), round(float(lr(3)), 6), round(float(lr(10)), 8)  # 1/25, peak, 1/25/1e4
        (0.04, 1.0, 4e-06)
        >>> paper = OneCycle(1.0, 10, pct_start=0.25, div_factor=10.0, final_div_factor=100.0,
        ...                  anneal_strategy="linear", three_phase=True)
        >>> [round(float(paper(step)), 4) for step in (0, 2.5, 5, 7.5, 10)]
        [0.1, 1.0, 0.1, 0.0505, 0.001]

    References:
        Smith & Topin, "Super-Convergence: Very Fast Training of Neural Networks Using Large
        Learning Rates", 2018 (arXiv:1708.07120); Smith, arXiv:1803.09820, 2018.
    """

    ANNEAL_STRATEGIES = ("cos", "linear")

    def __init__(
        self,
        max_lr,
        total_steps,
        pct_start=0.3,
        div_factor=25.0,
        final_div_factor=1e4,
        anneal_strategy="cos",
        three_phase=False,
    ):
        self.max_lr = check_positive("max_lr", max_lr)
        self.total_steps = check_int("total_steps", total_steps, minimum=2)
        self.pct_start = check_range(
            "pct_start", pct_start, low=0, high=1, low_inclusive=False, high_inclusive=False
        )
        self.div_factor = check_range("div_factor", div_factor, low=1)
        self.final_div_factor = check_range("final_div_factor", final_div_factor, low=1)
        self.anneal_strategy = check_choice(
            "anneal_strategy", anneal_strategy, self.ANNEAL_STRATEGIES
        )
        self.three_phase = check_bool("three_phase", three_phase)
        if three_phase and pct_start >= 0.5:
            raise ValueError(
                "Argument `pct_start` must be < 0.5 with three_phase=True (the rise and the "
                f"symmetric fall take 2 * pct_start of the steps). Received: pct_start={pct_start}"
            )

    @property
    def initial_lr(self):
        return self.max_lr / self.div_factor

    @property
    def final_lr(self):
        return self.initial_lr / self.final_div_factor

    def _anneal(self, start, end, position, length):
        if self.anneal_strategy == "linear":
            return linear_anneal_steps(start, end, position, length)
        return cosine_anneal(start, end, position, length)

    def interpolate(self, step, start, peak, end):
        """The cycle's shape through `start` (step 0), `peak` (step u) and `end` (total_steps);
        with `three_phase`, back to `start` at step 2u on the way."""
        step = as_float(step)
        up = self.pct_start * self.total_steps
        rising = self._anneal(start, peak, step, up)
        if not self.three_phase:
            falling = self._anneal(peak, end, step - up, self.total_steps - up)
            return ops.where(step <= up, rising, falling)
        falling = self._anneal(peak, start, step - up, up)
        annihilation = self._anneal(start, end, step - 2.0 * up, self.total_steps - 2.0 * up)
        return ops.where(step <= up, rising, ops.where(step <= 2.0 * up, falling, annihilation))

    def __call__(self, step):
        return self.interpolate(step, self.initial_lr, self.max_lr, self.final_lr)

    def get_config(self):
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "anneal_strategy": self.anneal_strategy,
            "three_phase": self.three_phase,
        }
