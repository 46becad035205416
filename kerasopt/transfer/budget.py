"""A time budget for fine-tuning: plan phase 2's epochs from measured step times, stop cleanly
when the budget is spent (EarlyStopping then restores the best weights).

Source: the course's practical advice on training under a compute budget (measure the cost of
a step, then choose the schedule's length); the schedule is planned for the epochs that fit,
so the cosine decay ends when the time does (Li, Yumer & Ramanan, "Budgeted Training:
Rethinking Deep Neural Network Training Under Resource Constraints", ICLR 2020). No file I/O.
"""

import math
import time
from typing import NamedTuple

import keras

from kerasopt._validation import check_int, check_positive

# A last, partial epoch is planned when at least this share of an epoch fits (`plan_steps`).
MIN_PARTIAL_EPOCH = 0.25


class Clock:
    """Seconds since the run started, against an optional budget.

    Args:
        budget_seconds: the budget in seconds (> 0), or None (no budget).
        elapsed_before: seconds already spent when the clock is made (>= 0), e.g. the
            command's interpreter start and imports (`kerasopt._platform.process_age_seconds`),
            so that a budget covers the whole command.

    Example:
        >>> from kerasopt.transfer.budget import Clock
        >>> clock = Clock(None)
        >>> clock.remaining() == float("inf") and clock.elapsed() >= 0
        True
    """

    def __init__(self, budget_seconds=None, elapsed_before=0.0):
        if budget_seconds is not None:
            check_positive("budget_seconds", budget_seconds)
        if not elapsed_before >= 0:
            raise ValueError(
                f"Argument `elapsed_before` must be >= 0. Received: elapsed_before={elapsed_before!r}"
            )
        self.budget, self.start = budget_seconds, time.perf_counter() - elapsed_before

    def elapsed(self):
        return time.perf_counter() - self.start

    def remaining(self):
        return math.inf if self.budget is None else self.budget - self.elapsed()


class StepPlan(NamedTuple):
    """Phase 2's length under a time budget (`plan_steps`).

    Source: budgeted training (Li, Yumer & Ramanan, ICLR 2020): the schedule is planned for the
    steps that fit. Fields: `epochs`, the epochs `fit` runs (the last one may be partial);
    `steps`, the training steps in all (the length of the learning-rate schedule; `StepLimit`
    ends the fit there).

    Example:
        >>> from kerasopt.transfer.budget import plan_steps
        >>> plan = plan_steps(10, remaining_seconds=700.0, step_seconds=1.0, steps_per_epoch=192,
        ...                   val_seconds=10.0)  # an epoch: 192 s of steps, then 10 s of validation
        >>> plan.epochs, plan.steps  # 3 whole epochs (606 s), then 84 steps + validation (94 s)
        (4, 660)
    """

    epochs: int
    steps: int


def plan_steps(max_epochs, remaining_seconds, step_seconds, steps_per_epoch, val_seconds):
    """The training steps that fit in `remaining_seconds`, at most `max_epochs` epochs of
    `steps_per_epoch` steps (each `step_seconds`), every epoch followed by a validation pass
    (`val_seconds`): the whole epochs that fit, then a last, partial epoch (its own validation
    pass included) when at least `MIN_PARTIAL_EPOCH` of an epoch fits in the time left.

    Planning by steps rather than whole epochs spends the budget: with epochs of two minutes,
    whole epochs alone leave up to two minutes of a ten-minute budget unused.

    Args:
        max_epochs: the plan's epochs without a budget (>= 0).
        remaining_seconds: the budget left (inf: no budget).
        step_seconds: the measured time of one training step (> 0).
        steps_per_epoch: training steps per epoch (>= 1).
        val_seconds: the measured time of one validation pass.

    Returns:
        A `StepPlan(epochs, steps)`.

    Example:
        >>> from kerasopt.transfer.budget import plan_steps
        >>> plan_steps(10, remaining_seconds=120.0, step_seconds=1.0, steps_per_epoch=20, val_seconds=5.0)
        StepPlan(epochs=5, steps=95)
        >>> plan_steps(10, float("inf"), 1.0, 20, 5.0)
        StepPlan(epochs=10, steps=200)
    """
    check_int("max_epochs", max_epochs, minimum=0)
    check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    check_positive("step_seconds", step_seconds)
    most = StepPlan(max_epochs, max_epochs * steps_per_epoch)
    if math.isinf(remaining_seconds):
        return most
    epoch = step_seconds * steps_per_epoch + val_seconds
    whole = max(0, int(remaining_seconds // epoch))
    if whole >= max_epochs:
        return most
    left = remaining_seconds - whole * epoch - val_seconds
    partial = min(steps_per_epoch - 1, max(0, int(left // step_seconds)))
    if partial < MIN_PARTIAL_EPOCH * steps_per_epoch:
        partial = 0
    return StepPlan(whole + (partial > 0), whole * steps_per_epoch + partial)


class StepLimit(keras.callbacks.Callback):
    """End `fit` after `steps` training steps of the phase (the last epoch then ends early and
    is validated, as with any stop).

    Source: budgeted training (Li, Yumer & Ramanan, ICLR 2020): training ends where the
    planned schedule does (`plan_steps`).

    Steps are counted from the phase's first epoch, `first_epoch` (Keras' epoch numbering: the
    epochs of earlier phases come first), at `steps_per_epoch` per epoch, so a fit resumed at a
    later epoch still stops at the same step.

    Args:
        steps: the phase's training steps (>= 1).
        steps_per_epoch: training steps per epoch (>= 1).
        first_epoch: Keras' number of the phase's first epoch (>= 0).

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.transfer.budget import StepLimit
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> history = model.fit(np.zeros((8, 2)), np.zeros(8), batch_size=2, epochs=5, verbose=0,
        ...                     callbacks=[StepLimit(6, steps_per_epoch=4)])
        >>> len(history.history["loss"]), int(model.optimizer.iterations)  # 4 + 2 steps
        (2, 6)
    """

    def __init__(self, steps, steps_per_epoch, first_epoch=0):
        super().__init__()
        self.steps = check_int("steps", steps, minimum=1)
        self.steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, minimum=1)
        self.first_epoch = check_int("first_epoch", first_epoch, minimum=0)
        self._before = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._before = (epoch - self.first_epoch) * self.steps_per_epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._before + batch + 1 >= self.steps:
            self.model.stop_training = True

    def get_config(self):
        return {
            "steps": self.steps,
            "steps_per_epoch": self.steps_per_epoch,
            "first_epoch": self.first_epoch,
        }


class TimeBudget(keras.callbacks.Callback):
    """Stop `fit` when the next training step and what follows it would end past the clock's
    budget.

    What follows a step that ends the fit: the cut epoch's validation pass and its end-of-epoch
    work (checkpoints: measured on earlier epochs as the epoch's wall time minus its steps and
    validation), then one more validation pass (the phase's final evaluation), and the
    `reserve_seconds` of the work after the fit. After each batch,
    if `clock.remaining()` is less than the mean step time so far plus those,
    `model.stop_training` is set; Keras then
    validates the cut epoch and ends the fit (EarlyStopping, if present, restores the best
    weights at the end). `stopped` tells whether the budget cut the fit.

    Args:
        clock: a `Clock`.
        val_seconds: the expected time of one validation pass, >= 0.
        trace_seconds: the extra time of the first validation pass (tracing its function),
            counted until an epoch has ended, >= 0.
        reserve_seconds: the time the work after the fit needs (the final evaluation, the
            published run folder), kept back for the whole fit, >= 0.

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.transfer.budget import Clock, TimeBudget
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> budget = TimeBudget(Clock(1e-9), val_seconds=0.0)  # already spent
        >>> history = model.fit(np.zeros((8, 2)), np.zeros(8), batch_size=2, epochs=5, verbose=0,
        ...                     callbacks=[budget])
        >>> len(history.history["loss"]), budget.stopped  # one step, then stop
        (1, True)
    """

    def __init__(self, clock, val_seconds=0.0, trace_seconds=0.0, reserve_seconds=0.0):
        super().__init__()
        self.clock, self.val_seconds = clock, float(val_seconds)
        self.trace_seconds, self.reserve_seconds = float(trace_seconds), float(reserve_seconds)
        self.stopped = False
        self._steps, self._step_seconds = 0, 0.0
        self._overhead, self._begin, self._epoch_begin, self._epoch_steps = 0.0, None, None, 0.0

    def _stop(self):
        self.stopped = True
        self.model.stop_training = True

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_begin, self._epoch_steps = time.perf_counter(), 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._begin = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        seconds = time.perf_counter() - self._begin
        self._step_seconds += seconds
        self._epoch_steps += seconds
        self._steps += 1
        after = 2 * self.val_seconds + self._overhead + self.trace_seconds + self.reserve_seconds
        if self.clock.remaining() < self._step_seconds / self._steps + after:
            self._stop()

    def on_epoch_end(self, epoch, logs=None):
        wall = time.perf_counter() - self._epoch_begin
        self._overhead = max(0.0, wall - self._epoch_steps - self.val_seconds - self.trace_seconds)
        self.trace_seconds = 0.0
