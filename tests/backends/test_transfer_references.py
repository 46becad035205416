"""Reference tests of kerasopt.transfer's backend-neutral helpers, run on every backend (CI's
JAX pass included): the classifier and its features against NumPy, the confusion matrix
against scikit-learn, the image statistics against closed forms, the clock and the time
budget against their documented rules on a scripted clock.

(They live here, beside the backend matrix they feed, because tests/transfer has another
owner this session; each checks one object against an independent reference.)"""

import math

import keras
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from kerasopt.transfer import (
    build_classifier,
    confusion_matrix,
    discriminative_optimizer,
    freeze,
    unfreeze,
    unfreeze_fraction,
)
from kerasopt.transfer.budget import Clock, TimeBudget
from kerasopt.transfer.features import cache_features, feature_extractor, image_statistics
from tests._clock import ScriptedClock

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


class _Batches(keras.utils.PyDataset):
    """(images, labels) batches in a fixed order, iterable and usable by `predict`."""

    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)


@pytest.mark.reference(
    "transfer.build_classifier", "transfer.feature_extractor", "transfer.cache_features"
)
def test_classifier_and_cached_features_equal_the_numpy_forward_pass():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(1, 1, 3, 4)).astype("float32")
    base = keras.Sequential(
        [keras.Input((6, 6, 3)), keras.layers.Conv2D(4, 1, use_bias=False)], name="base"
    )
    base.layers[0].set_weights([kernel])
    model = build_classifier(base, n_classes=3, preprocessing="tf")
    w, b = rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=3).astype("float32")
    model.get_layer("head").set_weights([w, b])
    x = rng.uniform(0, 255, (7, 6, 6, 3)).astype("float32")  # the backbone's size: no resize
    y = np.arange(7) % 3
    pooled = ((x / 127.5 - 1.0) @ kernel[0, 0]).mean(axis=(1, 2))  # "tf" mode, 1x1 conv, GAP
    np.testing.assert_allclose(model.predict(x, verbose=0), _softmax(pooled @ w + b), atol=1e-5)
    features, labels, seconds = cache_features(feature_extractor(model), _Batches(x, y, 3), 0)
    np.testing.assert_allclose(features, pooled, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(labels, y)
    assert features.dtype == np.float32 and seconds >= 0


@pytest.mark.reference("transfer.confusion_matrix")
def test_confusion_matrix_equals_scikit_learn():
    rng = np.random.default_rng(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    x, y = rng.normal(size=(23, 4)).astype("float32"), rng.integers(0, 3, 23)
    predicted = np.argmax(model.predict(x, verbose=0), axis=-1)
    expected = sk_confusion_matrix(y, predicted, labels=[0, 1, 2])
    np.testing.assert_array_equal(confusion_matrix(model, _Batches(x, y, 5), 3), expected)


@pytest.mark.reference("transfer.image_statistics")
def test_image_statistics_closed_forms():
    # a blue image: the channels (0, 0, 255) have std 255 * sqrt(2) / 3 at every pixel; a
    # checkerboard of a and b: neighbour steps |a - b|, spread |a - b| / 2, so sharpness 2
    blue = np.zeros((2, 4, 4, 3), "float32")
    blue[..., 2] = 255.0
    a, c = 40.0, 200.0
    board = np.where(np.add.outer(np.arange(4), np.arange(4)) % 2 == 0, a, c)
    gray = np.repeat(board[None, :, :, None], 3, axis=-1).astype("float32")
    stats = image_statistics(_Batches(blue, np.zeros(2), 1))
    assert stats["colourfulness"] == pytest.approx(math.sqrt(2) / 3, abs=1e-4)
    assert stats["mean_intensity"] == pytest.approx(85 / 255, abs=1e-4)
    stats = image_statistics(_Batches(np.concatenate([gray, blue]), np.zeros(3), 2), max_images=1)
    assert stats == {"colourfulness": 0.0, "sharpness": 2.0, "mean_intensity": round(120 / 255, 4)}


@pytest.mark.reference("transfer.TimeBudget", "transfer.Clock")
def test_time_budget_stops_when_the_step_and_two_validations_no_longer_fit(monkeypatch):
    # The documented rule: after a batch, stop when remaining < mean step + 2 * val_seconds
    # (+ overhead, 0 within the first epoch). val_seconds = 100: the bound is just above 200.
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    budget = TimeBudget(ScriptedClock([900.0, 300.0, 199.0, 1e9]), val_seconds=100.0)
    steps = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: steps.append(b))
    model.fit(np.zeros((16, 2)), np.zeros(16), batch_size=2, epochs=3, verbose=0,
              callbacks=[budget, counter])  # fmt: skip
    assert steps == [0, 1, 2] and budget.stopped
    # Clock: budget minus the elapsed time of time.perf_counter
    times = iter([10.0, 12.5, 13.0, 0.0])
    monkeypatch.setattr("kerasopt.transfer.budget.time.perf_counter", lambda: next(times))
    clock = Clock(5.0)
    assert clock.elapsed() == 2.5 and clock.remaining() == 2.0
    assert Clock(None).remaining() == math.inf


def _trainable(model):
    return [layer.name for layer in model.layers if layer.trainable_weights]


@pytest.mark.reference("transfer.freeze", "transfer.unfreeze", "transfer.unfreeze_fraction")
def test_freezing_follows_the_documented_layer_rules():
    # The rules restated with list slicing: the last n entries of model.layers (or from a named
    # layer on) become trainable, BatchNormalization never; everything else is frozen.
    base = keras.Sequential(
        [keras.Input((4,))]
        + [
            keras.layers.Dense(4, name="d1"),
            keras.layers.BatchNormalization(name="bn1"),
            keras.layers.Dense(4, name="d2"),
            keras.layers.BatchNormalization(name="bn2"),
            keras.layers.Dense(4, name="d3"),
        ]
    )
    names = [layer.name for layer in base.layers]
    assert len(freeze(base).trainable_weights) == 0
    for n in range(len(names) + 1):
        expected = [m for m in names[len(names) - n :] if not m.startswith("bn")]
        assert unfreeze(base, top_n_layers=n) == expected
        assert _trainable(base) == expected
    assert unfreeze(base, from_layer="bn1") == ["d2", "d3"] == _trainable(base)
    assert unfreeze_fraction(base, 0.4) == ["d3"]  # round(0.4 * 5) = 2 layers: bn2, d3
    assert unfreeze_fraction(base, 1.0) == ["d1", "d2", "d3"] == _trainable(base)


@pytest.mark.reference("transfer.discriminative_optimizer")
def test_discriminative_rates_match_the_sgd_rule_on_numpy_gradients():
    """One step on L = sum(model(x)^2) for a linear backbone and head, gradients in closed form:
    each variable moves by -lr * grad, lr = 0.1 for the head and 0.01 for the backbone."""
    rng = np.random.default_rng(0)
    base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="bb_dense")], name="bb")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(base(inputs)))
    opt = discriminative_optimizer(
        model, base, keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.01)
    )
    x = rng.normal(size=(5, 4))
    w1, b1, w2, b2 = (np.asarray(v, "float64") for v in model.get_weights())
    h = x @ w1 + b1
    dy = 2 * (h @ w2 + b2)
    dh = dy @ w2.T
    grads = {"bb_dense/kernel": x.T @ dh, "bb_dense/bias": dh.sum(0)}
    grads |= {"head/kernel": h.T @ dy, "head/bias": dy.sum(0)}
    variables = model.trainable_variables
    keys = ["/".join(v.path.split("/")[-2:]) for v in variables]
    before = [np.asarray(v.numpy(), "float64") for v in variables]
    opt.apply([keras.ops.convert_to_tensor(grads[k], "float32") for k in keys], variables)
    for v, key, w0 in zip(variables, keys, before, strict=True):
        lr = 0.01 if key.startswith("bb_dense") else 0.1
        np.testing.assert_allclose(v.numpy(), w0 - lr * grads[key], rtol=1e-5, atol=1e-6)


@pytest.mark.reference("transfer.FineTuneConfig")
def test_config_survives_asdict_and_json_and_checks_a_changed_field():
    import dataclasses
    import json

    from kerasopt.transfer import FineTuneConfig, FineTuneStrategy

    strategy = FineTuneStrategy("mine", 0.5, 1, 2)
    config = FineTuneConfig(strategy=strategy, label_smoothing=0.1, class_weight={0: 1.0, 1: 3.0})
    record = json.loads(json.dumps(dataclasses.asdict(config)))  # what metrics.json holds
    assert FineTuneConfig.from_dict(record) == config
    with pytest.raises(
        ValueError, match=r"Argument `label_smoothing` .* Received: label_smoothing=1"
    ):
        dataclasses.replace(config, label_smoothing=1)
