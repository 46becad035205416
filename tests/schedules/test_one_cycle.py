import math

import keras
import numpy as np
import pytest

from kerasopt.schedules import OneCycle

pytestmark = pytest.mark.portable


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


@pytest.mark.reference("schedules.OneCycle")
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
        ({"anneal_strategy": "exp"}, "anneal_strategy"),
        ({"three_phase": 1}, "three_phase"),
        ({"three_phase": True, "pct_start": 0.5}, "pct_start"),
    ],
)
def test_argument_validation(kwargs, name):
    args = {"max_lr": 0.1, "total_steps": 100, **kwargs}
    with pytest.raises((ValueError, TypeError), match=f"`{name}`"):
        OneCycle(**args)


def torch_one_cycle(
    steps, max_lr, T, pct, div, final_div, anneal, three_phase, which="lr", momenta=(0.85, 0.95)
):
    """PyTorch's `OneCycleLR.get_lr` (torch/optim/lr_scheduler.py, documented phases) restated
    in float64: phases end at steps pct*T - 1, then (three_phase) 2*pct*T - 2, then T - 1;
    in each, pct = (step - start) / (end - start) and the value anneals from the phase's
    start to its end by (cos(pi pct) + 1) / 2 ("cos") or linearly ("linear"). Learning rate:
    initial -> max -> [initial ->] min; momentum: max_m -> base_m -> [max_m ->] max_m."""
    initial, low = max_lr / div, max_lr / div / final_div
    base_m, max_m = momenta
    if three_phase:
        ends = [pct * T - 1, 2 * pct * T - 2, T - 1]
        values = {"lr": [initial, max_lr, initial, low], "momentum": [max_m, base_m, max_m, max_m]}
    else:
        ends = [pct * T - 1, T - 1]
        values = {"lr": [initial, max_lr, low], "momentum": [max_m, base_m, max_m]}
    v = values[which]

    def anneal_fn(a, b, f):
        if anneal == "cos":
            return b + (a - b) / 2.0 * (math.cos(math.pi * f) + 1)
        return (b - a) * f + a

    out = []
    for step in steps:
        start = 0.0
        for i, end in enumerate(ends):
            if step <= end or i == len(ends) - 1:
                out.append(anneal_fn(v[i], v[i + 1], (step - start) / (end - start)))
                break
            start = end
    return np.array(out)


def _values(fn, steps):
    return np.asarray(fn(keras.ops.convert_to_tensor(np.asarray(steps), "int32")), "float64")


@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("T, pct", [(100, 0.3), (37, 0.25), (1000, 0.1)])
@pytest.mark.reference("schedules.OneCycle")
def test_matches_pytorch_with_the_documented_index_shift(anneal, three_phase, T, pct):
    """OneCycle(total_steps=T - 1, pct_start=(pct T - 1) / (T - 1)) is PyTorch's
    OneCycleLR(total_steps=T, pct_start=pct) at every step it accepts (0 ... T - 1)."""
    steps = np.arange(T)
    schedule = OneCycle(
        0.4,
        T - 1,
        pct_start=(pct * T - 1) / (T - 1),
        div_factor=25.0,
        final_div_factor=1e4,
        anneal_strategy=anneal,
        three_phase=three_phase,
    )
    expected = torch_one_cycle(steps, 0.4, T, pct, 25.0, 1e4, anneal, three_phase)
    np.testing.assert_allclose(_values(schedule, steps), expected, rtol=2e-6, atol=0)
    # momentum (kerasopt.callbacks.MomentumCycle evaluates this same interpolation)
    momentum = _values(lambda k: schedule.interpolate(k, 0.95, 0.85, 0.95), steps)
    expected_m = torch_one_cycle(steps, 0.4, T, pct, 25.0, 1e4, anneal, three_phase, "momentum")
    np.testing.assert_allclose(momentum, expected_m, rtol=1e-6, atol=0)


@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_three_phase_landmarks_in_our_indexing(anneal):
    """Peak at u = pct_start * total_steps, back at the initial rate at 2u (the second phase
    mirrors the first), final rate from total_steps on."""
    sched = OneCycle(
        2.0,
        40,
        pct_start=0.25,
        div_factor=20,
        final_div_factor=50,
        anneal_strategy=anneal,
        three_phase=True,
    )
    initial, final = 2.0 / 20, 2.0 / 20 / 50
    got = _values(sched, [0, 10, 20, 40, 41, 500])
    np.testing.assert_allclose(got, [initial, 2.0, initial, final, final, final], rtol=1e-6)
    for k in range(1, 10):  # the fall mirrors the rise
        assert float(sched(10 + k)) == pytest.approx(float(sched(10 - k)), rel=1e-6)


def test_linear_anneal_is_linear():
    sched = OneCycle(
        1.0, 10, pct_start=0.4, div_factor=10, final_div_factor=10, anneal_strategy="linear"
    )
    # rise 0.1 -> 1 over steps 0..4, fall 1 -> 0.01 over steps 4..10
    expected = [0.1 + 0.9 * k / 4 for k in range(5)] + [1.0 - 0.99 * k / 6 for k in range(1, 7)]
    np.testing.assert_allclose(_values(sched, range(11)), expected, rtol=1e-6)


def test_new_options_round_trip_and_save(tmp_path):
    sched = OneCycle(0.1, 30, pct_start=0.2, anneal_strategy="linear", three_phase=True)
    again = OneCycle.from_config(sched.get_config())
    assert again.get_config() == sched.get_config()
    assert (again.anneal_strategy, again.three_phase) == ("linear", True)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(sched), "mse")
    model.fit(np.ones((4, 2)), np.zeros((4, 1)), batch_size=2, epochs=4, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras").optimizer._learning_rate
    assert loaded.get_config() == sched.get_config()
    steps = np.arange(35)
    np.testing.assert_array_equal(_values(loaded, steps), _values(sched, steps))
