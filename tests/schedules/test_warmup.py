import keras
import numpy as np
import pytest

from kerasopt.schedules import StepDecay, Warmup

pytestmark = pytest.mark.portable


@pytest.mark.reference("schedules.Warmup")
def test_constant_value_warmup():
    sched = Warmup(0.1, warmup_steps=10, start=0.0)
    steps = np.array([0, 1, 5, 9, 10, 11, 100])
    expected = np.where(steps < 10, 0.1 * steps / 10, 0.1)
    np.testing.assert_allclose(
        [float(sched(int(k))) for k in steps], expected, rtol=1e-6, atol=1e-9
    )


@pytest.mark.reference("schedules.Warmup")
def test_wraps_schedule_shifted_by_warmup():
    inner = StepDecay(0.2, 0.5, 4)
    sched = Warmup(inner, warmup_steps=5, start=0.02)
    steps = np.arange(0, 30)
    ramp = 0.02 + (0.2 - 0.02) * steps / 5
    after = 0.2 * 0.5 ** np.floor(np.maximum(steps - 5, 0) / 4)
    expected = np.where(steps < 5, ramp, after)
    np.testing.assert_allclose([float(sched(int(k))) for k in steps], expected, rtol=1e-6)


def test_wraps_keras_builtin_schedule():
    inner = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    sched = Warmup(inner, warmup_steps=3)
    assert float(sched(0)) == 0.0
    assert float(sched(3)) == pytest.approx(0.1)
    assert float(sched(13)) == pytest.approx(0.05)


def test_zero_warmup_is_identity():
    inner = StepDecay(0.2, 0.5, 4)
    sched = Warmup(inner, warmup_steps=0)
    for k in [0, 3, 4, 9]:
        assert float(sched(k)) == pytest.approx(float(inner(k)))


def test_config_serializes_inner_schedule():
    sched = Warmup(StepDecay(0.2, 0.5, 4), warmup_steps=5, start=0.01)
    config = sched.get_config()
    assert config["schedule_or_value"]["class_name"] == "StepDecay"
    assert config["schedule_or_value"]["registered_name"] == "kerasopt>StepDecay"
    assert config["schedule_or_value"]["config"] == {
        "initial_learning_rate": 0.2,
        "drop": 0.5,
        "steps_per_drop": 4,
    }
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(sched))
    for k in [0, 2, 5, 9, 20]:
        assert float(restored(k)) == pytest.approx(float(sched(k)))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"schedule_or_value": "fast"}, "schedule_or_value"),
        ({"schedule_or_value": -0.1}, "schedule_or_value"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"start": -1.0}, "start"),
    ],
)
def test_argument_validation(kwargs, name):
    args = {"schedule_or_value": 0.1, "warmup_steps": 5, **kwargs}
    with pytest.raises((ValueError, TypeError), match=f"`{name}`"):
        Warmup(**args)
