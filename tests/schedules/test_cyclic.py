import numpy as np
import pytest

from kerasopt.schedules import CyclicLR


def smith(k, lo, hi, s, mode, gamma):
    """Smith 2017, sec. 3.1, restated; triangular2 and exp_range from his reference code."""
    out = []
    for it in k:
        cycle = np.floor(1 + it / (2 * s))
        x = abs(it / s - 2 * cycle + 1)
        scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma**it}[
            mode
        ]
        out.append(lo + (hi - lo) * max(0.0, 1 - x) * scale)
    return np.array(out)


STEPS = np.array([0, 1, 5, 9, 10, 11, 19, 20, 21, 30, 40, 41, 55, 60, 100, 1001])


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_matches_smith_2017(mode):
    sched = CyclicLR(0.001, 0.006, 10, mode=mode, gamma=0.99)
    got = np.array([float(sched(int(k))) for k in STEPS])
    np.testing.assert_allclose(
        got, smith(STEPS, 0.001, 0.006, 10, mode, 0.99), rtol=1e-5, atol=1e-9
    )


def test_triangle_landmarks():
    sched = CyclicLR(0.1, 1.0, 4)
    assert float(sched(0)) == pytest.approx(0.1)
    assert float(sched(4)) == pytest.approx(1.0)
    assert float(sched(8)) == pytest.approx(0.1)
    assert float(sched(2)) == pytest.approx(0.55)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"max_lr": 0.0001}, "max_lr"),
        ({"step_size": 0}, "step_size"),
        ({"mode": "saw"}, "mode"),
        ({"gamma": 0.0}, "gamma"),
        ({"gamma": 1.1}, "gamma"),
        ({"min_lr": -1.0}, "min_lr"),
    ],
)
def test_argument_validation(kwargs, name):
    args = {"min_lr": 0.001, "max_lr": 0.01, "step_size": 10, **kwargs}
    with pytest.raises((ValueError, TypeError), match=f"`{name}`"):
        CyclicLR(**args)
