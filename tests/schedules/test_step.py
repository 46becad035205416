import numpy as np
import pytest

from kerasopt.schedules import StepDecay

pytestmark = pytest.mark.portable


@pytest.mark.reference("schedules.StepDecay")
def test_staircase_closed_form_at_boundaries():
    sched = StepDecay(0.5, 0.1, 30)
    steps = np.array([0, 1, 29, 30, 31, 59, 60, 61, 89, 90, 300])
    expected = 0.5 * 0.1 ** np.floor(steps / 30)
    np.testing.assert_allclose([float(sched(int(k))) for k in steps], expected, rtol=1e-5)


def test_drop_one_is_constant():
    sched = StepDecay(0.3, 1.0, 5)
    np.testing.assert_allclose([float(sched(k)) for k in range(0, 50, 7)], 0.3, rtol=1e-7)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"drop": 0.0}, "drop"),
        ({"drop": 1.5}, "drop"),
        ({"steps_per_drop": 0}, "steps_per_drop"),
        ({"initial_learning_rate": -1}, "initial_learning_rate"),
        ({"drop": "x"}, "drop"),
    ],
)
def test_argument_validation(kwargs, name):
    args = {"initial_learning_rate": 0.1, "drop": 0.5, "steps_per_drop": 10, **kwargs}
    with pytest.raises((ValueError, TypeError), match=f"`{name}`"):
        StepDecay(**args)
