import keras
import numpy as np
import pytest

from kerasopt.callbacks import SwapAveragedWeights
from kerasopt.optimizers import Averaged

pytestmark = pytest.mark.portable

RNG = np.random.default_rng(5)
X = RNG.normal(size=(32, 3)).astype("float32")
Y = (X @ RNG.normal(size=(3, 1))).astype("float32")


def trained(callbacks=(), finalize=False, epochs=2, **fit_kwargs):
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.compile(
        optimizer=Averaged(keras.optimizers.SGD(0.1, momentum=0.9), finalize=finalize), loss="mse"
    )
    model.fit(
        X,
        Y,
        batch_size=8,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        validation_data=(X, Y),
        callbacks=list(callbacks),
        **fit_kwargs,
    )
    return model


_PLAIN = {}


def plain_weights(finalize):
    """Weights after the same training without the callback (computed once)."""
    if finalize not in _PLAIN:
        _PLAIN[finalize] = trained(finalize=finalize).get_weights()
    return _PLAIN[finalize]


def averages(model):
    return [
        model.optimizer._averages[model.optimizer._get_variable_index(v)].numpy()
        for v in model.trainable_variables
    ]


def loss_with(model, weights):
    pred = X @ weights[0] @ weights[2] + weights[1] @ weights[2] + weights[3]
    return float(np.mean((pred - Y) ** 2))


@pytest.mark.reference("callbacks.SwapAveragedWeights")
def test_validation_uses_the_averages_and_raw_weights_come_back_exactly():
    swapped = trained([SwapAveragedWeights()])
    # Training is unaffected, bit for bit: the raw weights after each evaluation are the same.
    for a, b in zip(plain_weights(False), swapped.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # ...and evaluate() with the callback reports the averaged model's loss (NumPy forward pass).
    raw = [w.copy() for w in swapped.get_weights()]
    loss = swapped.evaluate(X, Y, verbose=0, callbacks=[SwapAveragedWeights()])
    assert loss == pytest.approx(loss_with(swapped, averages(swapped)), rel=1e-5)
    assert loss != pytest.approx(loss_with(swapped, raw), rel=1e-3)
    for a, b in zip(raw, swapped.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("finalize", [False, True])
@pytest.mark.reference("callbacks.SwapAveragedWeights")
def test_checkpoint_on_the_averages(tmp_path, finalize):
    path = str(tmp_path / "ckpt.weights.h5")
    checkpoint = keras.callbacks.ModelCheckpoint(path, save_weights_only=True)
    model = trained([SwapAveragedWeights(swap_on_epoch=True), checkpoint], finalize=finalize)
    saved = keras.models.clone_model(model)
    saved.load_weights(path)
    for a, b in zip(saved.get_weights(), averages(model), strict=True):
        np.testing.assert_array_equal(a, b)
    # After fit: the averages for good with finalize=True, the raw weights otherwise.
    for a, b in zip(model.get_weights(), plain_weights(finalize), strict=True):
        np.testing.assert_array_equal(a, b)


def test_needs_an_averaged_optimizer_and_validates_arguments():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="Averaged"):
        model.evaluate(X, Y, verbose=0, callbacks=[SwapAveragedWeights()])
    with pytest.raises(TypeError, match="`swap_on_epoch`.*swap_on_epoch='yes'"):
        SwapAveragedWeights(swap_on_epoch="yes")
