"""kerasopt objects inside keras-tuner trials: per-trial compile (with the tuner's optimizer
override, which serializes and deserializes it), keras-tuner's best-epoch checkpoint, reload;
per-trial callbacks; the top-k ensemble."""

import keras
import keras_tuner as kt
import numpy as np
import pytest

import kerasopt
from kerasopt.callbacks import SnapshotEnsemble, SwapAveragedWeights
from kerasopt.ensembles import export, load
from kerasopt.optimizers import Averaged, BlockCoordinate, DeltaBarDelta, Lookahead, RMSpropNesterov
from kerasopt.schedules import OneCycle
from kerasopt.search import CoarseToFineSearch, PerTrialCallbacks, top_k_ensemble

RNG = np.random.default_rng(0)
X = RNG.normal(size=(96, 6)).astype("float32")
Y = (X @ RNG.normal(size=(6, 3))).argmax(axis=1)
XV, YV = X[:32], Y[:32]
WEIGHTS_AT_EPOCH = {}  # (trial_id, epoch) -> weights, filled by Record (outside deep copies)
OPTIMIZER_AT_EPOCH = {}


class Record(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        WEIGHTS_AT_EPOCH[(self.trial_id, epoch)] = [w.copy() for w in self.model.get_weights()]
        OPTIMIZER_AT_EPOCH[(self.trial_id, epoch)] = [
            np.array(v.numpy(), copy=True) for v in self.model.optimizer.variables
        ]

    def configure_for_trial(self, trial_id, execution=0):
        self.trial_id = trial_id


def classifier(hp):
    units = hp.Int("units", 4, 16, step=4)
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(units, activation="tanh", name="hidden"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ]
    )


OPTIMIZERS = {
    "DeltaBarDelta": lambda: DeltaBarDelta(0.05),
    "RMSpropNesterov": lambda: RMSpropNesterov(OneCycle(0.01, 12)),
    "Averaged": lambda: Averaged(keras.optimizers.SGD(0.1, momentum=0.9), method="ema", decay=0.9),
    "Lookahead": lambda: Lookahead(keras.optimizers.Adam(0.01), sync_period=2),
    "BlockCoordinate": lambda: BlockCoordinate(keras.optimizers.SGD(0.1), blocks=["hidden", "out"]),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_optimizer_survives_a_keras_tuner_trial(tmp_path, name):
    def build(hp):
        model = classifier(hp)
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        return model

    class Tuner(PerTrialCallbacks, kt.RandomSearch):
        pass

    # `optimizer=` makes keras-tuner serialize, deserialize and compile it in every trial
    tuner = Tuner(
        build,
        objective="val_loss",
        max_trials=1,
        seed=0,
        optimizer=OPTIMIZERS[name](),
        loss="sparse_categorical_crossentropy",
        directory=tmp_path,
        project_name=name,
    )
    tuner.search(
        X, Y, validation_data=(XV, YV), epochs=3, batch_size=16, verbose=0, callbacks=[Record()]
    )
    trial = tuner.oracle.get_best_trials(1)[0]
    assert trial.status == "COMPLETED" and np.isfinite(trial.score)
    model = tuner.get_best_models(1)[0]  # rebuilt, compiled, best checkpoint loaded
    assert type(model.optimizer).__name__ == name
    for got, saved in zip(
        model.get_weights(), WEIGHTS_AT_EPOCH[(trial.trial_id, trial.best_step)], strict=True
    ):
        np.testing.assert_array_equal(got, saved)
    np.testing.assert_allclose(model.evaluate(XV, YV, verbose=0), trial.score, rtol=1e-5)
    # keras-tuner's checkpoint also holds the optimizer state (slots, averages, slow weights)
    model.optimizer.build(model.trainable_variables)
    model.load_weights(tmp_path / name / f"trial_{trial.trial_id}" / "checkpoint.weights.h5")
    saved = OPTIMIZER_AT_EPOCH[(trial.trial_id, trial.best_step)]
    assert len(model.optimizer.variables) == len(saved)
    for got, expected in zip(model.optimizer.variables, saved, strict=True):
        np.testing.assert_array_equal(got.numpy(), expected)
    model.fit(X, Y, epochs=1, verbose=0)  # the reloaded model trains on
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    assert type(reloaded.optimizer).__name__ == name
    np.testing.assert_allclose(
        reloaded.predict(XV, verbose=0), model.predict(XV, verbose=0), atol=1e-6
    )


@pytest.mark.reference("search.PerTrialCallbacks")
def test_snapshot_ensembles_of_a_search_land_in_one_folder_per_trial(tmp_path):
    def build(hp):
        model = classifier(hp)
        model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
        return model

    tuner = CoarseToFineSearch(
        build,
        objective="val_loss",
        max_trials=2,
        trials_per_round=2,
        seed=0,
        directory=tmp_path,
        project_name="snap",
    )
    snapshots = tmp_path / "snapshots"
    tuner.search(
        X,
        Y,
        validation_data=(XV, YV),
        epochs=2,
        batch_size=16,
        verbose=0,
        callbacks=[SnapshotEnsemble(snapshots, n_snapshots=2, max_lr=0.1)],
    )
    ids = sorted(tuner.oracle.trials)
    folders = sorted(
        p.parent.relative_to(snapshots).as_posix() for p in snapshots.rglob("manifest.json")
    )
    assert folders == [f"{i}/execution0" for i in ids]
    first, second = (load(snapshots / i / "execution0") for i in ids)
    assert first.predict(XV, verbose=0).shape == second.predict(XV, verbose=0).shape == (32, 3)
    assert first.layers[1].count_params() != second.layers[1].count_params() or not np.allclose(
        first.predict(XV, verbose=0), second.predict(XV, verbose=0)
    )


def test_unfilled_trial_placeholder_is_refused(tmp_path):
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    with pytest.raises(ValueError, match="placeholder"):
        model.fit(
            X,
            np.zeros((96, 3)),
            epochs=1,
            verbose=0,
            callbacks=[SnapshotEnsemble(str(tmp_path / "{trial_id}"), 1, 0.1)],
        )


def _averaged_search(tmp_path, tuner_class):
    def build(hp):
        model = classifier(hp)
        model.compile(
            Averaged(keras.optimizers.SGD(0.5), method="ema", decay=0.8, finalize=False),
            "sparse_categorical_crossentropy",
        )
        return model

    tuner = tuner_class(
        build,
        objective="val_loss",
        max_trials=1,
        seed=0,
        directory=tmp_path,
        project_name=tuner_class.__name__,
    )
    tuner.search(
        X,
        Y,
        validation_data=(XV, YV),
        epochs=3,
        batch_size=8,
        verbose=0,
        callbacks=[SwapAveragedWeights(swap_on_epoch=False)],
    )
    trial = tuner.oracle.get_best_trials(1)[0]
    return trial.score, tuner.get_best_models(1)[0].evaluate(XV, YV, verbose=0)


def test_the_best_model_is_the_one_the_tuner_scored_with_averaged_weights(tmp_path):
    class Ours(PerTrialCallbacks, kt.RandomSearch):
        pass

    score, reloaded = _averaged_search(tmp_path, Ours)
    np.testing.assert_allclose(reloaded, score, rtol=1e-5)
    # without the per-trial hook keras-tuner checkpoints the raw weights it did not score
    score, reloaded = _averaged_search(tmp_path, kt.RandomSearch)
    assert abs(reloaded - score) > 1e-3


@pytest.mark.reference("search.top_k_ensemble")
def test_top_k_ensemble_is_the_mean_of_its_members_and_exports(tmp_path):
    def build(hp):
        model = classifier(hp)
        model.compile(
            keras.optimizers.Adam(hp.Float("lr", 1e-3, 1e-1, sampling="log")),
            "sparse_categorical_crossentropy",
        )
        return model

    tuner = CoarseToFineSearch(
        build,
        objective="val_loss",
        max_trials=4,
        trials_per_round=2,
        seed=0,
        directory=tmp_path,
        project_name="top",
    )
    tuner.search(X, Y, validation_data=(XV, YV), epochs=2, batch_size=16, verbose=0)
    ensemble = top_k_ensemble(tuner, 3)
    members = [tuner.load_model(t) for t in tuner.oracle.get_best_trials(3)]
    expected = np.mean([m.predict(XV, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(ensemble.predict(XV, verbose=0), expected, atol=1e-6)
    paths = export(ensemble, tmp_path / "export")
    np.testing.assert_allclose(
        keras.models.load_model(paths["keras"]).predict(XV, verbose=0), expected, atol=1e-6
    )
    with pytest.raises(ValueError, match="Argument `k`"):
        top_k_ensemble(tuner, 5)
    assert kerasopt.search.top_k_ensemble is top_k_ensemble
