"""Reference tests of kerasopt.transfer's training phases and backbones, cheap enough for every
backend (CI's JAX pass included): `train_head` against scikit-learn's logistic regression on
the same features, `train_finetune`'s first step against Adam's closed form (|step| = rate,
the backbone at `backbone_lr_factor` times the head's), `lr_range_test` against a NumPy
restatement of the sweep, `backbone` against the weights file read with h5py, and
`WeightsUnavailableError` with an empty KERAS_HOME and no network.

(A new file: tests/transfer's other files have another owner this session.)"""

import os

import h5py
import keras
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from kerasopt.transfer import (
    DeviceSetup,
    FineTuneStrategy,
    ImageData,
    WeightsUnavailableError,
    backbone,
    build_classifier,
    lr_range_test,
    train_finetune,
    train_head,
)
from tests.backends.test_transfer_references import _Batches

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too

# fit_phase reads precision and compilation only; XLA is Keras' default on JAX
DEVICE = DeviceSetup(None, False, keras.backend.backend() == "jax", "CPU")


def _base(names=("conv1",)):
    """A backbone of 1x1 convolutions (identity kernels, no bias) and one BatchNormalization
    after the first: its pooled features are the images' mean colours in [-1, 1]."""
    layers = [keras.Input((4, 4, 3))]
    for i, name in enumerate(names):
        layers.append(keras.layers.Conv2D(3, 1, use_bias=False, name=name))
        if i == 0 and len(names) > 1:
            layers.append(keras.layers.BatchNormalization(name="bn"))
    base = keras.Sequential(layers, name="base")
    for layer in base.layers:
        if isinstance(layer, keras.layers.Conv2D):
            layer.set_weights([np.eye(3, dtype="float32")[None, None]])
    return base


def _images(rng, n, shift):
    """n 4x4 images of one noisy colour each: class 1's colours are shifted by `shift`; the
    features (mean colour, scaled to [-1, 1]) overlap between the classes."""
    y = np.arange(n) % 2
    colours = rng.normal(0.0, 0.35, (n, 3)) + shift * y[:, None]
    x = np.repeat(np.repeat(((colours + 1) * 127.5)[:, None, None, :], 4, 1), 4, 2)
    return x.astype("float32"), y.astype("int32"), (x / 127.5 - 1).mean(axis=(1, 2))


def _data(train, val, batch_size):
    (x, y), (xv, yv) = train, val
    return ImageData(
        _Batches(x, y, batch_size),
        _Batches(xv, yv, batch_size),
        ["a", "b"],
        len(x),
        len(xv),
        (4, 4),
        batch_size,
        "memory",
    )


@pytest.mark.reference("transfer.train_head")
def test_train_head_reaches_the_logistic_regression_of_the_frozen_features():
    rng = np.random.default_rng(0)
    shift = np.array([0.2, -0.15, 0.1])
    x, y, features = _images(rng, 256, shift)
    xv, yv, features_val = _images(rng, 64, shift)
    base = _base()
    model = build_classifier(base, n_classes=2, dropout=0.0, preprocessing="tf")
    plan = FineTuneStrategy(
        "head", unfreeze_fraction=0.0, epochs_head=8, epochs_finetune=0, head_learning_rate=0.1
    )
    before = base.get_weights()
    history, metrics = train_head(
        model, base, _data((x, y), (xv, yv), 32), plan, DEVICE, patience=None, verbose=0
    )
    assert len(history["loss"]) == metrics["epochs"] == 8
    for a, b in zip(before, base.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # frozen
    # The same model by scikit-learn: logistic regression without a penalty, on the features
    # the frozen base gives (the images' mean colours). Its training loss is the optimum.
    reference = LogisticRegression(C=np.inf, max_iter=1000).fit(features, y)
    optimum = log_loss(y, reference.predict_proba(features))
    gap = log_loss(y, model.predict(x, verbose=0)) - optimum
    assert -1e-6 <= gap <= 1e-3
    probabilities = model.predict(xv, verbose=0)
    np.testing.assert_allclose(
        probabilities[:, 1], reference.predict_proba(features_val)[:, 1], atol=0.02
    )
    loss = log_loss(yv, probabilities)
    assert metrics["val_loss"] == pytest.approx(loss, rel=1e-4)
    assert metrics["val_accuracy"] == pytest.approx(np.mean(probabilities.argmax(1) == yv))


@pytest.mark.reference("transfer.train_finetune")
def test_train_finetune_first_step_is_adams_at_the_discriminative_rates():
    # One Adam step from fresh moments moves each parameter by rate * g / (|g| + eps'): by the
    # rate itself wherever the gradient is not tiny. The head's rate is the peak (no warm-up,
    # cosine at step 0), the backbone's `backbone_lr_factor` times it; BatchNormalization
    # and the layers below the unfrozen fraction stay as they were.
    rng = np.random.default_rng(1)
    x, y, _ = _images(rng, 16, np.array([0.5, -0.5, 0.0]))
    base = _base(("conv1", "conv2", "conv3"))  # conv1, bn, conv2, conv3
    model = build_classifier(base, n_classes=2, dropout=0.0, preprocessing="tf")
    plan = FineTuneStrategy(
        "one step",
        unfreeze_fraction=0.5,  # the top round(0.5 * 4) = 2 layers: conv2, conv3
        epochs_head=0,
        epochs_finetune=1,
        finetune_learning_rate=0.01,
        backbone_lr_factor=0.1,
        warmup_fraction=0.0,
    )
    before = {w.path: w.numpy().copy() for w in model.weights}
    history, metrics, unfrozen = train_finetune(
        model, base, _data((x, y), (x, y), 16), plan, DEVICE, 1, patience=None, verbose=0
    )
    assert unfrozen == ["conv2", "conv3"] and metrics["unfrozen_layers"] == 2
    assert len(history["loss"]) == 1
    rates = {"conv1": 0.0, "bn": 0.0, "conv2": 1e-3, "conv3": 1e-3, "head": 1e-2}
    for w in model.weights:
        step = np.abs(w.numpy() - before[w.path])
        rate = rates[w.path.split("/")[-2]]
        if rate == 0.0:
            np.testing.assert_array_equal(step, 0.0, err_msg=w.path)
        else:
            assert step.max() <= rate * (1 + 1e-4), w.path
            np.testing.assert_allclose(step.max(), rate, rtol=1e-3, err_msg=w.path)


@pytest.mark.reference("transfer.lr_range_test")
def test_lr_range_test_is_the_numpy_sweep():
    # SGD on least squares, 4 batches an epoch: the sweep's rates, losses, smoothed losses,
    # stop and suggestion restated in NumPy (Smith 2017, sec. 3.3; the minimum / 10 rule).
    rng = np.random.default_rng(2)
    x = rng.normal(size=(32, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.1 * rng.normal(size=(32, 1))).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    w0 = model.get_weights()[0].astype("float64")
    steps, min_lr, max_lr = 20, 0.01, 10.0
    rate, seconds, finder = lr_range_test(
        model, _Batches(x, y, 8), steps=steps, min_lr=min_lr, max_lr=max_lr
    )

    w, best, average, diverged = w0.copy(), np.inf, 0.0, False
    expected = {"lr": [], "loss": [], "smoothed_loss": []}
    for k in range(steps):
        lr = min_lr * (max_lr / min_lr) ** (k / (steps - 1))
        xb, yb = x[8 * (k % 4) : 8 * (k % 4 + 1)], y[8 * (k % 4) : 8 * (k % 4 + 1)]
        residual = xb @ w - yb
        loss = float(np.mean(residual**2))
        w = w - lr * 2 * xb.T @ residual / len(xb)
        average = 0.98 * average + 0.02 * loss
        smoothed = average / (1 - 0.98 ** (k + 1))
        for key, value in zip(expected, (lr, loss, smoothed), strict=True):
            expected[key].append(value)
        best = min(best, smoothed)
        if smoothed > 4 * best:  # the stop factor
            diverged = True
            break
    assert diverged and len(expected["lr"]) < steps  # the sweep stops on the divergence
    assert finder.diverged
    np.testing.assert_allclose(finder.history["lr"], expected["lr"], rtol=1e-6)
    np.testing.assert_allclose(finder.history["loss"], expected["loss"], rtol=1e-4)
    np.testing.assert_allclose(
        finder.history["smoothed_loss"], expected["smoothed_loss"], rtol=1e-4
    )
    lowest = expected["lr"][int(np.argmin(expected["smoothed_loss"]))]
    assert rate == pytest.approx(max(min_lr, lowest / 10))
    assert seconds > 0
    np.testing.assert_array_equal(model.get_weights()[0], w0.astype("float32"))  # put back


@pytest.mark.reference("transfer.backbone")
def test_backbone_holds_the_cached_imagenet_file_and_is_headless(keras_home):
    model = backbone("mobilenet", input_shape=(32, 32, 3), alpha=0.25)
    path = os.path.join(keras_home, "models", "mobilenet_2_5_224_tf_no_top.h5")
    with h5py.File(path, "r") as file:  # Keras' legacy weights layout, read without Keras
        stored = {
            name.decode(): [file[name][w][()] for w in file[name].attrs["weight_names"]]
            for name in file.attrs["layer_names"]
        }
    with_weights = [layer for layer in model.layers if layer.weights]
    assert sorted(layer.name for layer in with_weights) == sorted(n for n, w in stored.items() if w)
    for layer in with_weights:
        for got, expected in zip(layer.get_weights(), stored[layer.name], strict=True):
            np.testing.assert_array_equal(got, expected, err_msg=layer.name)
    # headless: the last feature map, 32 / 32 = 1 pixel of 1024 * alpha channels, after ReLU6
    assert model.output_shape == (None, 1, 1, 256)
    images = np.random.default_rng(3).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    features = model.predict(images, verbose=0)
    assert features.shape == (2, 1, 1, 256) and 0 <= features.min() and features.max() <= 6


@pytest.mark.reference("transfer.WeightsUnavailableError")
def test_no_cache_and_no_network_raise_weights_unavailable(tmp_path, monkeypatch):
    # An empty KERAS_HOME and no network. Keras resolves KERAS_HOME when it is imported, so
    # both the variable and the home Keras resolved point at the empty folder.
    import socket

    from keras.src.backend import config

    def refuse(*args, **kwargs):
        raise OSError("network disabled for this test")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path))
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with pytest.raises(WeightsUnavailableError) as raised:
        backbone("mobilenet", input_shape=(32, 32, 3), alpha=0.25)
    message = str(raised.value)
    assert "backbone 'mobilenet'" in message and str(tmp_path / "models") in message
    assert "`weights=PATH`" in message and "KERAS_HOME" in message
    assert not list((tmp_path / "models").glob("*.h5"))  # nothing half-downloaded is left
