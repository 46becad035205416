import math

import keras
import numpy as np
import pytest

from kerasopt.callbacks import LRFinder
from kerasopt.datasets import digits

pytestmark = pytest.mark.portable


def digits_model(optimizer):
    x, y = digits()
    x = x.reshape(len(x), -1) / 16.0
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model, x, y


@pytest.mark.parametrize(
    "optimizer",
    [lambda: keras.optimizers.SGD(0.01, momentum=0.9), lambda: keras.optimizers.Adam(1e-3)],
    ids=["sgd_momentum", "adam"],
)
def test_restores_state_and_suggests_below_divergence(optimizer, tmp_path):
    model, x, y = digits_model(optimizer())
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)  # non-trivial optimizer state
    weights = [v.numpy().copy() for v in model.weights]
    opt_vars = [v.numpy().copy() for v in model.optimizer.variables]
    lr_before = float(model.optimizer.learning_rate)

    finder = LRFinder(min_lr=1e-4, max_lr=100.0, steps=120)
    model.fit(x, y, batch_size=32, epochs=10, verbose=0, callbacks=[finder])

    for before, v in zip(weights, model.weights, strict=True):
        np.testing.assert_array_equal(v.numpy(), before)
    for before, v in zip(opt_vars, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(v.numpy(), before)
    assert float(model.optimizer.learning_rate) == lr_before

    lrs = np.array(finder.history["lr"])
    np.testing.assert_allclose(lrs, np.geomspace(1e-4, 100.0, 120)[: len(lrs)], rtol=1e-9)
    assert finder.diverged, "a sweep up to lr=100 must diverge on digits"
    smoothed = np.array(finder.history["smoothed_loss"])
    lr_at_min = lrs[np.nanargmin(smoothed)]
    assert 1e-4 <= finder.suggestion < lr_at_min < lrs[-1]
    # the suggested rate trains: one epoch from the restored state lowers the loss
    loss0 = model.evaluate(x, y, verbose=0)
    model.optimizer.learning_rate.assign(finder.suggestion)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert model.evaluate(x, y, verbose=0) < loss0
    assert finder.plot(tmp_path / "lr.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.reference("callbacks.LRFinder")
def test_smoothing_is_bias_corrected_ema():
    finder = LRFinder(1e-3, 1.0, steps=5, smoothing=0.5, stop_factor=100)

    class Stub:
        stop_training = False

    finder.set_model(Stub())
    finder._average, finder._best = 0.0, np.inf
    for loss in [4.0, 2.0, 1.0]:
        finder.on_train_batch_end(0, {"loss": loss})
    # EMA with bias correction, written out: a1 = .5*4 ; a2 = .5*a1 + .5*2 ; a3 = .5*a2 + .5*1
    a = [2.0, 2.0, 1.5]
    np.testing.assert_allclose(
        finder.history["smoothed_loss"], [a[0] / 0.5, a[1] / 0.75, a[2] / 0.875]
    )


def test_rejects_schedule_and_bad_arguments():
    model, x, y = digits_model(
        keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5))
    )
    with pytest.raises(ValueError, match="schedule"):
        model.fit(x[:64], y[:64], epochs=1, verbose=0, callbacks=[LRFinder(steps=2)])
    for kwargs, name in [
        ({"min_lr": 0}, "min_lr"),
        ({"max_lr": 1e-7}, "max_lr"),
        ({"steps": 1}, "steps"),
        ({"smoothing": 1.0}, "smoothing"),
        ({"stop_factor": 1.0}, "stop_factor"),
    ]:
        with pytest.raises((ValueError, TypeError), match=f"`{name}`"):
            LRFinder(**kwargs)
    cb = LRFinder(1e-5, 1.0, 50)
    assert LRFinder(**cb.get_config()).get_config() == cb.get_config()


class _StubOptimizer:
    """The optimizer surface LRFinder touches, without a backend: a numeric rate."""

    built, variables = True, []

    def __init__(self):
        self._learning_rate = 0.01
        self.learning_rate = self

    def assign(self, value):
        self.value = value


class _CurveModel:
    """A stand-in model whose batch loss is a known function of the rate in force."""

    weights, trainable_variables, stop_training = [], [], False

    def __init__(self):
        self.optimizer = _StubOptimizer()

    def reset_metrics(self):
        pass


def _sweep(finder, curve):
    model = _CurveModel()
    finder.set_model(model)
    finder.on_train_begin()
    while not model.stop_training:
        finder.on_train_batch_begin(0)
        finder.on_train_batch_end(0, {"loss": curve(model.optimizer.learning_rate.value)})
    finder.on_train_end()
    return model


@pytest.mark.portable
@pytest.mark.parametrize("smoothing", [0.0, 0.6])
@pytest.mark.reference("callbacks.LRFinder")
def test_suggestion_is_a_tenth_of_the_rate_at_the_smoothed_minimum(smoothing):
    """The docstring's rule on a known curve: loss(lr) = 1 + (log10 lr + 2)^2 + lr^2 / 4 has its
    minimum near 1e-2 and diverges above ~3. The swept rates are min_lr (max_lr/min_lr)^(k/(n-1))
    and the smoothed loss is the bias-corrected EMA, both restated here; the suggestion must be
    exactly one tenth of the swept rate with the lowest smoothed loss."""

    def curve(lr):
        return 1.0 + (math.log10(lr) + 2.0) ** 2 + lr**2 / 4

    finder = LRFinder(min_lr=1e-5, max_lr=100.0, steps=71, smoothing=smoothing, stop_factor=4.0)
    _sweep(finder, curve)
    n = len(finder.history["lr"])
    rates = 1e-5 * (100.0 / 1e-5) ** (np.arange(n) / 70)
    np.testing.assert_allclose(finder.history["lr"], rates, rtol=1e-12)
    losses = np.array([curve(r) for r in rates])
    ema, smoothed = 0.0, []
    for k, loss in enumerate(losses):
        ema = smoothing * ema + (1 - smoothing) * loss
        smoothed.append(ema / (1 - smoothing ** (k + 1)))
    smoothed = np.array(smoothed)
    best = np.minimum.accumulate(smoothed)  # stop at the first step above 4x the best so far
    assert finder.diverged and smoothed[-1] > 4.0 * best[-1]
    assert np.all(smoothed[:-1] <= 4.0 * best[:-1])
    np.testing.assert_allclose(finder.history["smoothed_loss"], smoothed, rtol=1e-12)
    lowest = rates[np.argmin(smoothed)]
    assert finder.suggestion == pytest.approx(lowest / 10, rel=1e-12)
    if smoothing == 0.0:  # unsmoothed: the grid point nearest the curve's minimum, 1e-2
        assert lowest == pytest.approx(1e-2, rel=1e-9)


@pytest.mark.portable
def test_suggestion_never_below_min_lr():
    """A curve that only rises: its minimum is the first rate, and a tenth of it would be below
    the sweep; the suggestion is then `min_lr` itself."""
    finder = LRFinder(min_lr=1e-3, max_lr=1.0, steps=10, smoothing=0.0, stop_factor=1e9)
    _sweep(finder, lambda lr: 1.0 + lr)
    assert finder.history["lr"][0] == 1e-3 and not finder.diverged
    assert len(finder.history["lr"]) == 10
    assert finder.suggestion == 1e-3


@pytest.mark.reference("search.lr_range_from_finder")
def test_search_range_spans_two_decades_below_the_smoothed_minimum():
    """`kerasopt.search.lr_range_from_finder`'s rule on a known curve, unsmoothed: high = the
    swept rate with the lowest loss (the grid point 1e-2 of 1e-5 * 10^(k/10)), low = high /
    span clipped to the sweep's `min_lr`."""
    from kerasopt.search import lr_range_from_finder

    def curve(lr):
        return 1.0 + (math.log10(lr) + 2.0) ** 2

    finder = LRFinder(min_lr=1e-5, max_lr=1.0, steps=51, smoothing=0.0, stop_factor=1e9)
    _sweep(finder, curve)
    rates = 1e-5 * 10 ** (np.arange(51) / 10)
    high = rates[np.argmin([curve(r) for r in rates])]
    assert high == pytest.approx(1e-2, rel=1e-9)
    assert lr_range_from_finder(finder) == pytest.approx((high / 100, high), rel=1e-12)
    assert lr_range_from_finder(finder, span=1e6) == pytest.approx((1e-5, high), rel=1e-12)
    with pytest.raises(ValueError, match="Argument `finder` must hold a finished sweep"):
        lr_range_from_finder(LRFinder(min_lr=1e-5, max_lr=1.0, steps=5))
