"""Every schedule: config round trip, inside an optimizer under XLA, and saved with the model."""

import keras
import numpy as np
import pytest

from kerasopt.plotting import plot_schedule
from kerasopt.schedules import CyclicLR, LinearDecay, OneCycle, StepDecay, Warmup

pytestmark = pytest.mark.portable

SCHEDULES = [
    LinearDecay(0.1, 0.001, 7),
    StepDecay(0.1, 0.5, 3),
    Warmup(LinearDecay(0.1, 0.01, 5), warmup_steps=3, start=0.001),
    Warmup(0.05, warmup_steps=4),
    CyclicLR(0.001, 0.1, 2, mode="triangular2"),
    CyclicLR(0.001, 0.1, 2, mode="exp_range", gamma=0.9),
    OneCycle(0.1, 12, pct_start=0.4),
    CyclicLR(0.001, 0.1, 1, mode="exp_range", gamma=0.9, step_size_down=3, scale_mode="cycle"),
    OneCycle(0.1, 12, pct_start=0.25, anneal_strategy="linear", three_phase=True),
]
IDS = [
    "linear",
    "step",
    "warmup_schedule",
    "warmup_value",
    "cyclic2",
    "cyclic_exp",
    "one_cycle",
    "cyclic_asymmetric",
    "one_cycle_three_phase",
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=IDS)
def test_get_config_round_trip(schedule):
    restored = type(schedule).from_config(schedule.get_config())
    assert restored.get_config() == schedule.get_config()
    via_registry = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule)
    )
    assert type(via_registry) is type(schedule)
    for k in [0, 1, 3, 6, 11, 40]:
        assert float(restored(k)) == pytest.approx(float(schedule(k)))


@pytest.mark.parametrize("schedule", SCHEDULES, ids=IDS)
def test_sgd_under_jit_follows_schedule_and_saves(schedule, tmp_path):
    """Plain SGD: w_{k+1} = w_k - lr(k) g_k on a linear model with a zero loss gradient known in closed form."""
    x = np.ones((4, 1), "float32")
    y = np.zeros((4, 1), "float32")
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mae", jit_compile=True
    )
    model.fit(x, y, batch_size=4, epochs=10, verbose=0, shuffle=False)
    # MAE on x = 1, y = 0 with w > 0: gradient is exactly +1 each step, so w = 1 - sum lr(k).
    # This checks that fit under XLA applies the rate of every step; the rates themselves are
    # checked against independent closed forms in the other tests of this folder.
    expected = 1.0 - sum(float(schedule(k)) for k in range(10))
    assert float(model.layers[0].kernel.numpy()[0, 0]) == pytest.approx(expected, abs=1e-6)

    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer._learning_rate) is type(schedule)
    assert int(loaded.optimizer.iterations) == 10
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert float(loaded.optimizer.learning_rate) == pytest.approx(float(schedule(10)))


def test_plot_schedule_writes_png(tmp_path):
    path = plot_schedule(SCHEDULES[:2], 20, tmp_path / "s.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="`steps`"):
        plot_schedule(SCHEDULES[0], 0, tmp_path / "t.png")
