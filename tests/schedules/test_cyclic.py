import math

import keras
import numpy as np
import pytest

from kerasopt.schedules import CyclicLR

pytestmark = pytest.mark.portable


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
@pytest.mark.reference("schedules.CyclicLR")
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


def torch_cyclic(
    steps,
    base_lr,
    max_lr,
    up,
    down,
    mode="triangular",
    gamma=1.0,
    scale_fn=None,
    scale_mode="cycle",
):
    """PyTorch's `CyclicLR.get_lr` (torch/optim/lr_scheduler.py, documented formulas) restated
    in float64 NumPy: total = up + down, ratio = up / total, cycle = floor(1 + k / total),
    x = 1 + k / total - cycle, factor x / ratio if x <= ratio else (x - 1) / (ratio - 1),
    lr = base + (max - base) * factor * scale_fn(cycle or k). Built-in modes: triangular 1 per
    cycle, triangular2 1 / 2^(cycle - 1) per cycle, exp_range gamma^k per iteration."""
    if scale_fn is None:
        scale_fn, scale_mode = {
            "triangular": (lambda u: 1.0, "cycle"),
            "triangular2": (lambda u: 1 / 2.0 ** (u - 1), "cycle"),
            "exp_range": (lambda u: gamma**u, "iterations"),
        }[mode]
    total = up + down
    ratio = up / total
    out = []
    for k in steps:
        cycle = math.floor(1 + k / total)
        x = 1.0 + k / total - cycle
        factor = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        out.append(
            base_lr + (max_lr - base_lr) * factor * scale_fn(cycle if scale_mode == "cycle" else k)
        )
    return np.array(out)


def _values(schedule, steps):
    """The schedule at every step, in one call on a float32 vector of steps."""
    return np.asarray(schedule(keras.ops.convert_to_tensor(np.asarray(steps), "int32")), "float64")


@pytest.mark.parametrize(
    "min_lr, gamma", [(1e-3, 0.99994), (1e-3, 0.9999), (1e-3, 0.999), (0.0, 0.99994), (0.0, 0.9999)]
)
def test_exp_range_float32_relative_error_below_1e6_over_8000_steps(min_lr, gamma):
    """Against gamma^k in float64 (as exp(k log gamma)). gamma = 0.99994 is Smith's value for
    exp_range (2017, sec. 3.1). gamma^k with gamma rounded to float32 (spacing 6e-8 near 1)
    is off by k times that relative error: 1e-6 after about 20 steps, 5e-4 at step 8000."""
    steps = np.arange(8000)
    schedule = CyclicLR(min_lr, 6e-3, 2000, mode="exp_range", gamma=gamma)
    expected = torch_cyclic(steps, min_lr, 6e-3, 2000, 2000, "exp_range", gamma)
    got = _values(schedule, steps)
    nonzero = expected > 0
    assert np.array_equal(got[~nonzero], expected[~nonzero])  # exact zeros at the cycle starts
    relative = np.abs(got[nonzero] - expected[nonzero]) / expected[nonzero]
    assert relative.max() <= 1e-6, (relative.max(), int(steps[nonzero][relative.argmax()]))
    for k in (1, 19, 1999, 2000, 3999, 5001, 7999):  # scalar calls, as in a train step
        assert abs(float(schedule(k)) - expected[k]) <= 1e-6 * expected[k] + (expected[k] == 0)


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
@pytest.mark.parametrize("up, down", [(3, 7), (5, 2), (1, 1), (4, 4)])
@pytest.mark.reference("schedules.CyclicLR")
def test_asymmetric_cycles_match_pytorch(mode, up, down):
    steps = np.arange(120)
    schedule = CyclicLR(0.001, 0.006, up, mode=mode, gamma=0.98, step_size_down=down)
    np.testing.assert_allclose(
        _values(schedule, steps),
        torch_cyclic(steps, 0.001, 0.006, up, down, mode, 0.98),
        rtol=1e-6,
        atol=0,
    )


@keras.saving.register_keras_serializable(package="kerasopt_tests")
def harmonic(u):
    """1 / (1 + (u - 1) / 2): the amplitude over the cycles 1, 2/3, 1/2, ... (a keras.ops-safe
    expression, valid for tensors and Python floats alike)."""
    return 1.0 / (1.0 + 0.5 * (u - 1.0))


@pytest.mark.parametrize("scale_mode", ["cycle", "iterations"])
def test_custom_scale_fn_matches_pytorch(scale_mode):
    steps = np.arange(90)
    schedule = CyclicLR(0.01, 0.1, 4, step_size_down=6, scale_fn=harmonic, scale_mode=scale_mode)
    np.testing.assert_allclose(
        _values(schedule, steps),
        torch_cyclic(steps, 0.01, 0.1, 4, 6, scale_fn=harmonic, scale_mode=scale_mode),
        rtol=1e-6,
        atol=0,
    )


def test_scale_mode_defaults_follow_pytorch_and_can_be_overridden():
    """PyTorch/tfa: triangular and triangular2 scale per cycle, exp_range per iteration, a
    custom scale_fn per cycle unless told; tfa's ExponentialCyclicalLearningRate also accepts
    scale_mode="cycle" (gamma^cycle)."""
    assert CyclicLR(0.1, 1.0, 2).scale_mode == "cycle"
    assert CyclicLR(0.1, 1.0, 2, mode="triangular2").scale_mode == "cycle"
    assert CyclicLR(0.1, 1.0, 2, mode="exp_range").scale_mode == "iterations"
    assert CyclicLR(0.1, 1.0, 2, scale_fn=harmonic).scale_mode == "cycle"
    steps = np.arange(40)
    per_cycle = CyclicLR(0.0, 1.0, 3, mode="exp_range", gamma=0.7, scale_mode="cycle")
    np.testing.assert_allclose(
        _values(per_cycle, steps),
        torch_cyclic(steps, 0.0, 1.0, 3, 3, scale_fn=lambda c: 0.7**c, scale_mode="cycle"),
        rtol=1e-6,
        atol=0,
    )


def test_scale_fn_round_trips_through_config_and_a_saved_model(tmp_path):
    schedule = CyclicLR(0.01, 0.1, 4, step_size_down=6, scale_fn=harmonic, scale_mode="iterations")
    config = schedule.get_config()
    assert config["scale_fn"]["config"] == "kerasopt_tests>harmonic"  # saved by registered name
    again = CyclicLR.from_config(config)
    assert again.scale_fn is harmonic and again.get_config() == config
    via_registry = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule)
    )
    assert via_registry.scale_fn is harmonic
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(schedule), "mse")
    model.fit(np.ones((4, 2)), np.zeros((4, 1)), batch_size=2, epochs=3, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.optimizer._learning_rate.scale_fn is harmonic
    expected = torch_cyclic([6], 0.01, 0.1, 4, 6, scale_fn=harmonic, scale_mode="iterations")[0]
    assert float(loaded.optimizer.learning_rate) == pytest.approx(expected, rel=1e-6)


def test_lambda_scale_fn_is_saved_with_a_warning_and_refused_on_safe_loading():
    schedule = CyclicLR(0.01, 0.1, 4, scale_fn=lambda u: 1.0 / u)
    assert float(schedule(4)) == pytest.approx(0.1)  # usable in memory
    with pytest.warns(UserWarning, match="lambda"):
        config = keras.optimizers.schedules.serialize(schedule)
    with pytest.raises(ValueError, match="lambda"):
        keras.optimizers.schedules.deserialize(config)


@pytest.mark.parametrize(
    "kwargs, name, error",
    [
        ({"step_size_down": 0}, "step_size_down", ValueError),
        ({"step_size_down": 2.5}, "step_size_down", TypeError),
        ({"scale_mode": "epoch"}, "scale_mode", ValueError),
        ({"scale_fn": 3}, "scale_fn", TypeError),
    ],
)
def test_new_argument_validation(kwargs, name, error):
    with pytest.raises(error, match=f"Argument `{name}`.*Received: {name}="):
        CyclicLR(0.001, 0.01, 10, **kwargs)
