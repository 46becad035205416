import keras
import numpy as np
import pytest

from kerasopt.optimizers import Averaged, DeltaBarDelta

pytestmark = pytest.mark.portable


def recorded(history, start_step, every):
    """Iterates of steps t = 1..T with t > start_step and (t - start_step) % every == 0."""
    return [
        h
        for t, h in enumerate(history, start=1)
        if t > start_step and (t - start_step) % every == 0
    ]


@pytest.mark.parametrize(
    "method, start_step, every", [("polyak", 0, 1), ("polyak", 7, 1), ("swa", 3, 4)]
)
@pytest.mark.reference("optimizers.Averaged")
def test_holds_the_arithmetic_mean_of_the_recorded_iterates(
    quadratic, run_steps, method, start_step, every
):
    opt = Averaged(
        keras.optimizers.SGD(0.04, momentum=0.5), method=method, start_step=start_step, every=every
    )
    _, history = run_steps(opt, quadratic, 27)
    chosen = recorded(history, start_step, every)
    assert int(opt.average_count) == len(chosen) > 1
    for i, average in enumerate(opt._averages):
        np.testing.assert_allclose(
            average.numpy(), np.mean([h[i] for h in chosen], axis=0), atol=1e-6, rtol=0
        )


@pytest.mark.reference("optimizers.Averaged")
def test_holds_the_ema_of_the_recorded_iterates(quadratic, run_steps):
    opt = Averaged(DeltaBarDelta(0.03), method="ema", decay=0.8, start_step=2)
    _, history = run_steps(opt, quadratic, 24)
    chosen = recorded(history, 2, 1)
    for i, average in enumerate(opt._averages):
        expected = chosen[0][i]
        for h in chosen[1:]:
            expected = 0.8 * expected + 0.2 * h[i]
        np.testing.assert_allclose(average.numpy(), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("start_step", [0, 3])
@pytest.mark.reference("optimizers.Averaged")
def test_dynamic_decay_follows_the_tensorflow_addons_closed_form(quadratic, run_steps, start_step):
    # tensorflow-addons MovingAverage(dynamic_decay=True): the decay at optimizer step t
    # (counted before the step) is min(decay, (1 + n) / (10 + n)), n = t - start_step.
    opt = Averaged(
        keras.optimizers.SGD(0.03), "ema", decay=0.9, start_step=start_step, dynamic_decay=True
    )
    _, history = run_steps(opt, quadratic, 30)
    for i, average in enumerate(opt._averages):
        expected = None
        for t, h in enumerate(history, start=1):
            if t <= start_step:
                continue
            n = t - 1 - start_step
            decay = min(0.9, (1 + n) / (10 + n))
            expected = h[i] if expected is None else decay * expected + (1 - decay) * h[i]
        np.testing.assert_allclose(average.numpy(), expected, atol=1e-9, rtol=0)
    # the warm-up matters: with a constant decay 0.9 the average is a different number
    fixed = Averaged(keras.optimizers.SGD(0.03), "ema", decay=0.9, start_step=start_step)
    run_steps(fixed, quadratic, 30)
    assert not np.allclose(fixed._averages[0].numpy(), opt._averages[0].numpy(), atol=1e-4)


@pytest.mark.parametrize(
    "identifier", ["sgd", {"class_name": "SGD", "config": {"learning_rate": 0.01}}]
)
def test_wrappers_accept_optimizer_identifiers_like_compile(identifier, quadratic, run_steps):
    # keras.optimizers.get resolves the identifier, as model.compile(optimizer=...) does.
    from kerasopt.optimizers import BlockCoordinate, Lookahead

    rate = 0.01
    for wrapper in (
        Averaged(identifier),
        Lookahead(identifier, sync_period=1000),
        BlockCoordinate(identifier, blocks=["."]),
    ):
        assert isinstance(wrapper.inner_optimizer, keras.optimizers.SGD)
        rate = float(wrapper.learning_rate)
        _, history = run_steps(wrapper, quadratic, 3)
        _, plain = run_steps(keras.optimizers.SGD(rate), quadratic, 3)
        for a, b in zip(history[-1], plain[-1], strict=True):
            np.testing.assert_array_equal(a, b)
        restored = type(wrapper).from_config(wrapper.get_config())
        assert restored.get_config() == wrapper.get_config()


def test_inner_steps_are_untouched(quadratic, run_steps):
    _, plain = run_steps(keras.optimizers.Adam(0.05), quadratic, 20)
    _, wrapped = run_steps(Averaged(keras.optimizers.Adam(0.05), method="ema"), quadratic, 20)
    for a, b in zip(plain[-1], wrapped[-1], strict=True):
        np.testing.assert_array_equal(a, b)


def _fit(opt, epochs=2):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(32, 4)), rng.normal(size=(32, 1))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=opt, loss="mse")
    model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)
    return model


def test_finalize_writes_the_averages_into_the_model_and_can_be_switched_off():
    on = _fit(Averaged(keras.optimizers.SGD(0.1)))
    for v in on.trainable_variables:
        avg = on.optimizer._averages[on.optimizer._get_variable_index(v)]
        np.testing.assert_array_equal(v.numpy(), avg.numpy())
    off = _fit(Averaged(keras.optimizers.SGD(0.1), finalize=False))
    kernel = off.trainable_variables[0]
    assert not np.allclose(kernel.numpy(), off.optimizer._averages[0].numpy())
    off.optimizer.assign_average_to()
    np.testing.assert_array_equal(kernel.numpy(), off.optimizer._averages[0].numpy())


def test_nothing_is_written_before_an_iterate_is_recorded():
    model = _fit(Averaged(keras.optimizers.SGD(0.1), start_step=100), epochs=1)
    assert int(model.optimizer.average_count) == 0
    assert np.abs(model.trainable_variables[0].numpy()).sum() > 0  # not overwritten by zeros


@pytest.mark.parametrize(
    "kwargs, name, error",
    [
        ({"method": "median"}, "method", ValueError),
        ({"decay": 1.0}, "decay", ValueError),
        ({"every": 0}, "every", ValueError),
        ({"start_step": -1}, "start_step", ValueError),
        ({"optimizer": 3}, "optimizer", TypeError),
        ({"optimizer": "no_such_optimizer"}, "optimizer", ValueError),
    ],
)
def test_argument_validation(kwargs, name, error):
    args = {"optimizer": keras.optimizers.SGD(), **kwargs}
    value = kwargs[name]
    with pytest.raises(error, match=f"`{name}`.*{name}={value!r}"):
        Averaged(**args)


def test_dynamic_decay_needs_ema():
    with pytest.raises(ValueError, match="`dynamic_decay`.*dynamic_decay=True"):
        Averaged(keras.optimizers.SGD(), "polyak", dynamic_decay=True)
    with pytest.raises(TypeError, match="`dynamic_decay`"):
        Averaged(keras.optimizers.SGD(), "ema", dynamic_decay=1)


def test_rejects_loss_scale_and_gradient_accumulation_inside():
    with pytest.raises(ValueError, match="`optimizer`"):
        Averaged(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD()))
    with pytest.raises(ValueError, match="`optimizer`"):
        Averaged(keras.optimizers.SGD(gradient_accumulation_steps=2))
