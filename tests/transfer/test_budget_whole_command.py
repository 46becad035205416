"""The time budget covers the whole command: the clock starts at the process' start, and the
time kept back for the work after phase 2 (evaluation, export) stays kept back in every epoch."""

import os
import subprocess

import keras
import numpy as np
import pytest

from kerasopt._platform import process_age_seconds
from kerasopt.transfer.budget import Clock, TimeBudget
from tests._clock import ScriptedClock


def _steps_run(budget, epochs=3, batches=4):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    steps = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: steps.append(b))
    model.fit(np.zeros((2 * batches, 2)), np.zeros(2 * batches), batch_size=2, epochs=epochs,
              verbose=0, callbacks=[budget, counter])  # fmt: skip
    return len(steps)


def test_the_reserve_is_kept_back_in_every_epoch_and_the_trace_only_in_the_first():
    # Epoch 1 has plenty of time; at the first step of epoch 2, 99 s remain. The documented
    # rule stops when remaining < mean step + 2 * val + overhead + trace (epoch 1 only) +
    # reserve (every epoch): with a 100-s reserve the fit stops there (5 steps in all); the same
    # 100 s given as the first epoch's trace time no longer counts and all 12 steps run.
    remaining = [1e9] * 4 + [99.0] + [1e9] * 7
    assert _steps_run(TimeBudget(ScriptedClock(remaining), reserve_seconds=100.0)) == 5
    assert _steps_run(TimeBudget(ScriptedClock(remaining), trace_seconds=100.0)) == 12


def test_the_clock_counts_the_seconds_spent_before_it_was_made(monkeypatch):
    times = iter([10.0, 12.0, 12.0])
    monkeypatch.setattr("kerasopt.transfer.budget.time.perf_counter", lambda: next(times))
    clock = Clock(60.0, elapsed_before=7.5)
    assert clock.elapsed() == 9.5 and clock.remaining() == 50.5
    with pytest.raises(ValueError, match=r"elapsed_before.*Received: elapsed_before=-1"):
        Clock(60.0, elapsed_before=-1)


def test_process_age_agrees_with_ps():
    # ps' elapsed time of this process (whole seconds, procps), read around our own reading
    def ps_seconds():
        out = subprocess.run(["ps", "-o", "etimes=", "-p", str(os.getpid())], capture_output=True)
        return int(out.stdout.decode().strip())

    before = ps_seconds()
    age = process_age_seconds()
    after = ps_seconds()
    assert before - 0.01 <= age <= after + 1.0
