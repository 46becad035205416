import numpy as np
import pytest

from kerasopt.schedules import LinearDecay

pytestmark = pytest.mark.portable


def closed_form(k, eps0, eps_tau, tau):
    a = np.minimum(k / tau, 1.0)
    return (1 - a) * eps0 + a * eps_tau


@pytest.mark.reference("schedules.LinearDecay")
def test_matches_course_rule_before_at_and_after_tau():
    sched = LinearDecay(0.1, 0.001, 100)
    steps = np.array([0, 1, 2, 37, 50, 99, 100, 101, 150, 10_000])
    got = np.array([float(sched(int(k))) for k in steps])
    np.testing.assert_allclose(got, closed_form(steps, 0.1, 0.001, 100), rtol=1e-6)
    assert got[0] == pytest.approx(0.1) and got[-1] == pytest.approx(0.001)


def test_increasing_rate_allowed():
    sched = LinearDecay(0.0, 1.0, 4)
    np.testing.assert_allclose(
        [float(sched(k)) for k in range(6)], [0, 0.25, 0.5, 0.75, 1, 1], rtol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"initial_learning_rate": -1.0}, "initial_learning_rate"),
        ({"final_learning_rate": -0.1}, "final_learning_rate"),
        ({"decay_steps": 0}, "decay_steps"),
        ({"decay_steps": 2.5}, "decay_steps"),
    ],
)
def test_argument_validation(kwargs, name):
    args = {"initial_learning_rate": 0.1, "final_learning_rate": 0.0, "decay_steps": 10, **kwargs}
    with pytest.raises((ValueError, TypeError), match=f"`{name}`"):
        LinearDecay(**args)
