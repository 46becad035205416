import math

import numpy as np
import pytest

from kerasopt.schedules import OneCycle


def reference(k, max_lr, total, pct, div, final_div):
    init = max_lr / div
    low = init / final_div
    up = pct * total

    def cos(a, b, f):
        f = min(max(f, 0.0), 1.0)
        return b + (a - b) * (1 + math.cos(math.pi * f)) / 2

    return np.array(
        [
            cos(init, max_lr, s / up) if s <= up else cos(max_lr, low, (s - up) / (total - up))
            for s in k
        ]
    )


def test_matches_cosine_one_cycle():
    sched = OneCycle(0.4, 100, pct_start=0.25, div_factor=20, final_div_factor=100)
    steps = np.array([0, 1, 10, 24, 25, 26, 50, 99, 100, 101, 500])
    got = np.array([float(sched(int(k))) for k in steps])
    np.testing.assert_allclose(got, reference(steps, 0.4, 100, 0.25, 20, 100), rtol=1e-5, atol=1e-9)


def test_landmarks():
    sched = OneCycle(1.0, 10, pct_start=0.3, div_factor=25, final_div_factor=1e4)
    assert float(sched(0)) == pytest.approx(1 / 25)
    assert float(sched(3)) == pytest.approx(1.0)
    assert float(sched(10)) == pytest.approx(1 / 25 / 1e4, rel=1e-4)
    assert float(sched(1000)) == pytest.approx(1 / 25 / 1e4, rel=1e-4)


def test_interpolate_inverse_shape():
    sched = OneCycle(1.0, 10, pct_start=0.5)
    assert float(sched.interpolate(0, 0.95, 0.85, 0.95)) == pytest.approx(0.95)
    assert float(sched.interpolate(5, 0.95, 0.85, 0.95)) == pytest.approx(0.85)
    assert float(sched.interpolate(10, 0.95, 0.85, 0.95)) == pytest.approx(0.95)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"max_lr": 0.0}, "max_lr"),
        ({"total_steps": 1}, "total_steps"),
        ({"pct_start": 1.0}, "pct_start"),
        ({"pct_start": 0.0}, "pct_start"),
        ({"div_factor": 0.5}, "div_factor"),
        ({"final_div_factor": 0.1}, "final_div_factor"),
    ],
)
def test_argument_validation(kwargs, name):
    args = {"max_lr": 0.1, "total_steps": 100, **kwargs}
    with pytest.raises((ValueError, TypeError), match=f"`{name}`"):
        OneCycle(**args)
