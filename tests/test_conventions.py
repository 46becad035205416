"""Every row of the peer-conventions table (docs/guides/conventions.md) checked against the code.

Each check restates the peer's documented rule in NumPy (tensorflow-addons and PyTorch
sources and docs) and compares it with kerasopt under the mapping the row gives. The
averaging checks use a probe: SGD with rate 1 on a constant gradient of -1 from w0 = 0, so
the iterate after update t is exactly t and an average names the updates it recorded.
The runnable per-class snippets live on the migration page (tests/test_migration.py).
"""

import inspect
import math
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from kerasopt.layers import StochasticDepth
from kerasopt.optimizers import Averaged
from kerasopt.schedules import CyclicLR, OneCycle

pytestmark = pytest.mark.portable

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "guides" / "conventions.md"


def table_checks():
    """The last cell of every table row: a check id (`id`) or a test file path."""
    rows = [line for line in PAGE.read_text().splitlines() if line.startswith("| ")][1:]
    return [re.fullmatch(r".*\| `?([^|`]+)`? \|", row).group(1) for row in rows]


def probe_average(steps, **kwargs):
    """The average after `steps` updates whose iterates are w_t = t."""
    w = keras.Variable([0.0])
    opt = Averaged(keras.optimizers.SGD(1.0), finalize=False, **kwargs)
    for _ in range(steps):
        opt.apply([keras.ops.convert_to_tensor([-1.0])], [w])
    assert float(w.numpy()[0]) == steps
    opt.assign_average_to([w])
    return float(w.numpy()[0])


def check_averaging_start():
    d, steps = 0.8, 7
    iterates = np.arange(1.0, steps + 1)

    def ema(a):
        for x in iterates:
            a = d * a + (1 - d) * x
        return a

    torch_average = ema(iterates[0])  # AveragedModel: the first call copies w_1
    tfa_average = ema(0.0)  # tfa MovingAverage: starts at w_0 = 0
    ours = probe_average(steps, method="ema", decay=d)
    assert ours == pytest.approx(torch_average, rel=1e-6)
    assert abs(ours - tfa_average) > 0.1
    # SWA: the first recorded iterate is the average (PyTorch's first update_parameters)
    assert probe_average(5, method="swa", start_step=2, every=3) == 5.0


def check_swa_period():
    steps = 40
    for m, k in [(0, 1), (4, 3), (9, 10), (11, 4)]:  # tfa's start_averaging, average_period
        # tfa SWA.average_op: after the update at iterations i (0-based, before the
        # increment), record when i >= m and i == m + floor((i - m) / k) * k.
        recorded = [i + 1 for i in range(steps) if i >= m and (i - m) % k == 0]
        ours = probe_average(steps, method="swa", start_step=m + 1 - k, every=k)
        assert ours == pytest.approx(np.mean(recorded), rel=1e-6), (m, k)
    for swa_start, per_epoch, epochs in [(0, 5, 6), (3, 4, 8)]:
        # PyTorch: `if epoch >= swa_start: swa_model.update_parameters(model)` after each epoch
        recorded = [(e + 1) * per_epoch for e in range(epochs) if e >= swa_start]
        ours = probe_average(
            epochs * per_epoch, method="swa", start_step=swa_start * per_epoch, every=per_epoch
        )
        assert ours == pytest.approx(np.mean(recorded), rel=1e-6)


def check_stochastic_depth():
    """torchvision's stochastic_depth(p_drop, mode="row") and ours with survival 1 - p_drop:
    per-example draws, kept branches divided by the survival probability in training, the
    identity at inference; tfa's inference output shortcut + p * branch differs."""
    survival, n = 0.75, 4000
    layer = StochasticDepth(survival_probability=survival, seed=3)
    shortcut = np.full((n, 2), 1.0, "float32")
    branch = np.full((n, 2), 2.0, "float32")
    inference = np.asarray(layer([shortcut, branch], training=False))
    np.testing.assert_array_equal(inference, shortcut + branch)
    assert not np.allclose(inference, shortcut + survival * branch)  # tfa's inference
    trained = np.asarray(layer([shortcut, branch], training=True))
    kept = trained[:, 0] != 1.0
    np.testing.assert_allclose(trained[kept], 1.0 + 2.0 / survival, rtol=1e-6)
    np.testing.assert_array_equal(trained[:, 0], trained[:, 1])  # one draw per example (row)
    # per-example Bernoulli(0.75): the kept fraction within 5 standard deviations (0.034)
    assert abs(kept.mean() - survival) <= 5 * math.sqrt(survival * (1 - survival) / n)
    assert 0 < kept.sum() < n  # not one draw for the whole batch (tfa)


def torch_one_cycle(step, max_lr, T, pct, three_phase, anneal):
    """OneCycleLR.get_lr: phases end at pct*T - 1, [2*pct*T - 2,] T - 1."""
    initial, low = max_lr / 25.0, max_lr / 25.0 / 1e4
    if three_phase:
        phases = [(pct * T - 1, initial, max_lr), (2 * pct * T - 2, max_lr, initial)]
        phases.append((T - 1, initial, low))
    else:
        phases = [(pct * T - 1, initial, max_lr), (T - 1, max_lr, low)]
    start = 0.0
    for i, (end, a, b) in enumerate(phases):
        if step <= end or i == len(phases) - 1:
            f = (step - start) / (end - start)
            if anneal == "cos":
                return b + (a - b) / 2 * (math.cos(math.pi * f) + 1)
            return (b - a) * f + a
        start = end


def check_one_cycle_indexing():
    T, pct = 50, 0.2
    for three_phase in (False, True):
        for anneal in ("cos", "linear"):
            ours_same_args = OneCycle(1.0, T, pct, anneal_strategy=anneal, three_phase=three_phase)
            mapped = OneCycle(
                1.0,
                T - 1,
                (pct * T - 1) / (T - 1),
                anneal_strategy=anneal,
                three_phase=three_phase,
            )
            # landmarks: PyTorch peaks at pT - 1 = 9, kerasopt at pT = 10
            assert torch_one_cycle(pct * T - 1, 1.0, T, pct, three_phase, anneal) == 1.0
            assert float(ours_same_args(pct * T)) == pytest.approx(1.0, rel=1e-6)
            assert float(ours_same_args(pct * T - 1)) < 0.99
            if three_phase:  # back at the initial rate: PyTorch 2pT - 2 = 18, kerasopt 2pT = 20
                assert float(ours_same_args(2 * pct * T)) == pytest.approx(0.04, rel=1e-6)
            for step in range(T):
                expected = torch_one_cycle(step, 1.0, T, pct, three_phase, anneal)
                assert float(mapped(step)) == pytest.approx(expected, rel=2e-6), (step, anneal)


def check_cyclic_scale_modes():
    """PyTorch CyclicLR / tfa: cycle = floor(1 + k / (2 s)) from 1, k from 0; triangular and
    triangular2 (and a custom scale_fn) per cycle, exp_range per iteration."""
    s, gamma = 3, 0.9
    for mode, scale_mode in [
        ("triangular", "cycle"),
        ("triangular2", "cycle"),
        ("exp_range", "iterations"),
    ]:
        assert CyclicLR(0.0, 1.0, s, mode=mode).scale_mode == scale_mode
    assert CyclicLR(0.0, 1.0, s, scale_fn=lambda u: u).scale_mode == "cycle"
    exp_range = CyclicLR(0.0, 1.0, s, mode="exp_range", gamma=gamma)
    triangular2 = CyclicLR(0.0, 1.0, s, mode="triangular2")
    for k in (s, 3 * s, 5 * s):  # peaks: height 1, cycles 1, 2, 3
        cycle = math.floor(1 + k / (2 * s))
        assert float(exp_range(k)) == pytest.approx(gamma**k, rel=1e-6)
        assert float(triangular2(k)) == pytest.approx(1 / 2 ** (cycle - 1), rel=1e-6)


def check_schedule_step():
    """Update t uses lr(t - 1): with SGD on a gradient of -1, w_t = sum_{j < t} lr(j), which is
    PyTorch's sum of the rates after 0, 1, ..., t - 1 scheduler steps."""
    schedule = CyclicLR(0.1, 1.0, 2)
    w = keras.Variable([0.0])
    opt = keras.optimizers.SGD(schedule)
    rates = []
    for t in range(1, 6):
        opt.apply([keras.ops.convert_to_tensor([-1.0])], [w])
        rates.append(0.1 + 0.9 * (1 - abs((t - 1) / 2 - 1)) if (t - 1) % 4 else 0.1)
        assert float(w.numpy()[0]) == pytest.approx(sum(rates), rel=1e-6)


CHECKS = {
    "averaging-start": check_averaging_start,
    "swa-period": check_swa_period,
    "stochastic-depth": check_stochastic_depth,
    "one-cycle-indexing": check_one_cycle_indexing,
    "cyclic-scale-modes": check_cyclic_scale_modes,
    "schedule-step": check_schedule_step,
}
ELSEWHERE = {"tests/optimizers/test_averaging.py": "dynamic_decay"}  # the row's own test


def test_every_row_is_checked_and_every_check_has_a_row():
    checks = table_checks()
    assert len(checks) == len(set(checks)) == len(CHECKS) + len(ELSEWHERE)
    assert set(checks) == set(CHECKS) | set(ELSEWHERE)


@pytest.mark.parametrize(
    "row",
    sorted(CHECKS),
)
def test_convention_row(row):
    CHECKS[row]()


@pytest.mark.parametrize("path, option", sorted(ELSEWHERE.items()))
def test_rows_checked_elsewhere_name_a_test_of_the_option(path, option):
    """The dynamic-decay row's check belongs to the optimizers' tests: `Averaged` has the
    option, and the named test file exercises it."""
    assert option in inspect.signature(Averaged).parameters
    assert option in (ROOT / path).read_text()
