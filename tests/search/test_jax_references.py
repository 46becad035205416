"""Cheap reference tests of the search helpers, for every backend (CI's JAX pass included):
one three-trial keras-tuner search of one epoch each, shared by both tests.
`PerTrialCallbacks`: each trial's copy of a callback is told that trial's id (keras-tuner's
own record of its trials) before it trains; `top_k_ensemble`: its members are the trials with
the best scores keras-tuner recorded, and its output is the NumPy mean of theirs."""

import keras
import keras_tuner as kt
import numpy as np
import pytest

from kerasopt.search import PerTrialCallbacks, top_k_ensemble

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 4)).astype("float32")
Y = (X @ RNG.normal(size=(4, 3))).argmax(axis=1)
XV, YV = X[:16], Y[:16]


class Told(keras.callbacks.Callback):
    """Logs (trial id it was told, trial id it trained in) per copy; the log is shared."""

    log = []

    def configure_for_trial(self, trial_id, execution=0):
        self.told = (trial_id, execution)

    def on_train_begin(self, logs=None):
        Told.log.append(getattr(self, "told", None))


class Tuner(PerTrialCallbacks, kt.RandomSearch):
    def run_trial(self, trial, *args, **kwargs):
        self.started.append(trial.trial_id)
        return super().run_trial(trial, *args, **kwargs)


def build(hp):
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="softmax", name="out")]
    )
    model.compile(
        keras.optimizers.Adam(hp.Float("lr", 1e-3, 1e-1, sampling="log")),
        "sparse_categorical_crossentropy",
    )
    return model


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    keras.utils.set_random_seed(0)
    Told.log.clear()
    tuner = Tuner(
        build,
        objective="val_loss",
        max_trials=3,
        seed=0,
        directory=tmp_path_factory.mktemp("search"),
        project_name="cheap",
    )
    tuner.started = []
    original = Told()
    tuner.search(
        X, Y, validation_data=(XV, YV), epochs=1, batch_size=32, verbose=0, callbacks=[original]
    )
    return tuner, original


@pytest.mark.reference("search.PerTrialCallbacks")
def test_each_trial_copy_is_told_its_trial(search):
    tuner, original = search
    assert sorted(tuner.started) == sorted(tuner.oracle.trials) and len(tuner.started) == 3
    assert Told.log == [(trial_id, 0) for trial_id in tuner.started]
    assert not hasattr(original, "told")  # keras-tuner configures copies, not the original


@pytest.mark.reference("search.top_k_ensemble")
def test_top_k_ensemble_is_the_mean_of_the_best_scored_trials(search, tmp_path):
    tuner, _ = search
    scored = sorted(tuner.oracle.trials.values(), key=lambda t: t.score)  # val_loss: lowest best
    ensemble = top_k_ensemble(tuner, 2)
    members = [layer.name for layer in ensemble.layers if layer.name.startswith("trial_")]
    assert members == [f"trial_{t.trial_id}" for t in scored[:2]]
    expected = np.mean([tuner.load_model(t).predict(XV, verbose=0) for t in scored[:2]], axis=0)
    np.testing.assert_allclose(ensemble.predict(XV, verbose=0), expected, atol=1e-6)
    path = tmp_path / "top2.keras"
    ensemble.save(path)
    np.testing.assert_allclose(
        keras.models.load_model(path).predict(XV, verbose=0), expected, atol=1e-6
    )
    with pytest.raises(ValueError, match="Argument `k`"):
        top_k_ensemble(tuner, 4)
