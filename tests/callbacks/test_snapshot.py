import json

import keras
import numpy as np
import pytest

from kerasopt.callbacks import SnapshotEnsemble

pytestmark = pytest.mark.portable

RNG = np.random.default_rng(0)
X = RNG.normal(size=(48, 4)).astype("float32")
Y = (X[:, 0] + X[:, 1] > 0).astype("int64")
BATCH, EPOCHS, N = 16, 4, 2  # 3 steps per epoch, 2 epochs per cycle


def make_model(seed=7):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def huang_lr(t, max_lr, min_lr, cycle):
    """Huang et al. 2017, eq. 2, with a floor min_lr (t 0-based)."""
    return min_lr + (max_lr - min_lr) / 2 * (np.cos(np.pi * (t % cycle) / cycle) + 1)


@pytest.mark.reference("callbacks.SnapshotEnsemble")
def test_snapshots_manifest_and_schedule(tmp_path):
    model = make_model()
    rates = []

    class Recorder(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            rates.append(float(self.model.optimizer.learning_rate))

    cb = SnapshotEnsemble(tmp_path / "snaps", n_snapshots=N, max_lr=0.2, min_lr=0.002)
    model.fit(
        X,
        Y,
        batch_size=BATCH,
        epochs=EPOCHS,
        validation_data=(X[:16], Y[:16]),
        verbose=0,
        shuffle=False,
        callbacks=[cb, Recorder()],
    )
    steps = EPOCHS * len(X) // BATCH
    np.testing.assert_allclose(rates, huang_lr(np.arange(steps), 0.2, 0.002, steps // N), rtol=1e-5)

    manifest = json.loads((tmp_path / "snaps" / "manifest.json").read_text())
    assert [s["cycle"] for s in manifest["snapshots"]] == [1, 2]
    assert [s["step"] for s in manifest["snapshots"]] == [6, 12]
    assert [s["epoch"] for s in manifest["snapshots"]] == [2, 4]
    assert all(
        {"val_loss", "val_accuracy", "loss"} <= set(s["metrics"]) for s in manifest["snapshots"]
    )
    # ensembles.load(top_k=...) ranks snapshots by these values: each must be what the saved
    # snapshot scores on the validation data (the same float32 computation on the same 16 rows:
    # a few float32 roundings, far below 1e-5 relative)
    for snap in manifest["snapshots"]:
        member = keras.models.load_model(tmp_path / "snaps" / snap["file"])
        loss, accuracy = member.evaluate(X[:16], Y[:16], batch_size=16, verbose=0)
        assert snap["metrics"]["val_loss"] == pytest.approx(loss, rel=1e-5)
        assert snap["metrics"]["val_accuracy"] == pytest.approx(accuracy, abs=1e-7)
    files = sorted(p.name for p in (tmp_path / "snaps").iterdir())
    assert files == [
        "manifest.json",
        "snapshot_001.keras",
        "snapshot_002.keras",
    ]  # no temporaries left
    last = keras.models.load_model(tmp_path / "snaps" / "snapshot_002.keras")
    np.testing.assert_array_equal(last.predict(X, verbose=0), model.predict(X, verbose=0))


def test_interrupted_and_resumed_run_gives_same_snapshots(tmp_path):
    def run(directory, backup, callbacks_extra=(), model=None):
        model = model or make_model()
        cbs = [
            SnapshotEnsemble(directory, n_snapshots=N, max_lr=0.2),
            *callbacks_extra,
            keras.callbacks.BackupAndRestore(backup),
        ]
        model.fit(
            X,
            Y,
            batch_size=BATCH,
            epochs=EPOCHS,
            validation_data=(X[:16], Y[:16]),
            verbose=0,
            shuffle=False,
            callbacks=cbs,
        )

    run(tmp_path / "a", tmp_path / "backup_a")

    class Crash(keras.callbacks.Callback):
        """Dies after the cycle-1 snapshot is written but before the epoch's backup."""

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("simulated preemption")

    with pytest.raises(RuntimeError, match="preemption"):
        run(tmp_path / "b", tmp_path / "backup_b", [Crash()])
    assert (tmp_path / "b" / "snapshot_001.keras").exists()
    run(tmp_path / "b", tmp_path / "backup_b", model=make_model(seed=99))  # fresh process stand-in

    manifest_a = json.loads((tmp_path / "a" / "manifest.json").read_text())["snapshots"]
    manifest_b = json.loads((tmp_path / "b" / "manifest.json").read_text())["snapshots"]
    assert [(s["cycle"], s["step"], s["epoch"]) for s in manifest_b] == [
        (s["cycle"], s["step"], s["epoch"]) for s in manifest_a
    ]
    for sa, sb in zip(manifest_a, manifest_b, strict=True):
        wa = keras.models.load_model(tmp_path / "a" / sa["file"]).get_weights()
        wb = keras.models.load_model(tmp_path / "b" / sb["file"]).get_weights()
        for a, b in zip(wa, wb, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        assert sa["metrics"]["val_loss"] == pytest.approx(sb["metrics"]["val_loss"], rel=1e-5)


def test_validation(tmp_path):
    for kwargs, name in [
        ({"n_snapshots": 0}, "n_snapshots"),
        ({"max_lr": 0.0}, "max_lr"),
        ({"min_lr": 1.0}, "min_lr"),
    ]:
        args = {"directory": tmp_path, "n_snapshots": 2, "max_lr": 0.1, **kwargs}
        with pytest.raises((ValueError, TypeError), match=f"`{name}`"):
            SnapshotEnsemble(**args)
    model = make_model()
    with pytest.raises(ValueError, match="`n_snapshots`"):
        model.fit(X, Y, epochs=3, verbose=0, callbacks=[SnapshotEnsemble(tmp_path, 2, 0.1)])
    cb = SnapshotEnsemble(tmp_path, 3, 0.1, 0.001)
    assert SnapshotEnsemble(**cb.get_config()).get_config() == cb.get_config()


def test_under_mirrored_strategy(tmp_path, strategy):
    with strategy.scope():
        model = make_model()
    cb = SnapshotEnsemble(tmp_path / "snaps", n_snapshots=2, max_lr=0.2)
    model.fit(X, Y, batch_size=BATCH, epochs=2, verbose=0, shuffle=False, callbacks=[cb])
    manifest = json.loads((tmp_path / "snaps" / "manifest.json").read_text())
    assert [s["step"] for s in manifest["snapshots"]] == [3, 6]
    # the last step of each cycle ran at the bottom of the cosine
    lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    assert lr == pytest.approx(huang_lr(5, 0.2, 0.0, 3), rel=1e-5)
