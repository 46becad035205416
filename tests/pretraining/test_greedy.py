"""Greedy supervised pretraining and stacked (denoising) autoencoders: the returned
stacks are trained (checked with scikit-learn classifiers on their features), have the
requested shape, survive save/load and validate their arguments."""

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from kerasopt.pretraining import greedy_supervised, stacked_autoencoder

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return (data.data / 16.0).astype("float32"), data.target


@pytest.mark.reference("pretraining.greedy_supervised")
def test_greedy_supervised_gives_an_accurate_initialized_network(tmp_path, digits):
    x, y = digits
    model = greedy_supervised(
        x[:1400],
        y[:1400],
        [32, 16],
        10,
        epochs=10,
        batch_size=64,
        optimizer=keras.optimizers.Adam(0.01),
        activation="relu",
        seed=0,
    )
    assert [layer.units for layer in model.layers] == [32, 16, 10]
    held_out = np.mean(np.argmax(model.predict(x[1400:], verbose=0), 1) == y[1400:])
    assert held_out > 0.85, held_out  # chance is 0.1; no fine-tuning of the whole stack yet
    model.save(tmp_path / "g.keras")
    np.testing.assert_array_equal(
        keras.models.load_model(tmp_path / "g.keras").predict(x, verbose=0),
        model.predict(x, verbose=0),
    )


@pytest.mark.reference("pretraining.stacked_autoencoder")
def test_stacked_denoising_autoencoder_codes_beat_an_untrained_encoder(tmp_path, digits):
    x, y = digits
    model = stacked_autoencoder(
        x[:1400],
        [48, 32],
        epochs=10,
        batch_size=64,
        optimizer=keras.optimizers.Adam(0.01),
        noise=0.3,
        n_classes=10,
        seed=0,
    )
    assert [layer.units for layer in model.layers] == [48, 32, 10]
    untrained = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(48, "sigmoid"), keras.layers.Dense(32, "sigmoid")]
    )

    def probe(encoder):  # held-out accuracy of a logistic regression on the codes
        codes = encoder.predict(x, verbose=0)
        return (
            LogisticRegression(max_iter=3000)
            .fit(codes[:1400], y[:1400])
            .score(codes[1400:], y[1400:])
        )

    trained, baseline = probe(keras.Sequential(model.layers[:2])), probe(untrained)
    assert trained > 0.8 and trained > baseline + 0.1, (trained, baseline)  # measured: 0.87 vs 0.72
    model.save(tmp_path / "s.keras")
    np.testing.assert_array_equal(
        keras.models.load_model(tmp_path / "s.keras").predict(x, verbose=0),
        model.predict(x, verbose=0),
    )


def test_argument_validation(digits):
    x, y = digits
    with pytest.raises(ValueError, match="noise=1.0"):
        stacked_autoencoder(x, [8], noise=1.0)
    with pytest.raises(ValueError, match=r"hidden_sizes\[0\]"):
        stacked_autoencoder(x, [0])
    with pytest.raises(ValueError, match="n_classes=1"):
        greedy_supervised(x, y, [8], 1)
    with pytest.raises(ValueError, match="Argument `y`"):
        greedy_supervised(x, y, [8], 5)
    with pytest.raises(ValueError, match="2-D"):
        stacked_autoencoder(x[0], [8])
