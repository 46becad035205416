import json
import shutil

import keras
import numpy as np
import pytest

from kerasopt.callbacks import SnapshotEnsemble
from kerasopt.ensembles import MemberAverage, SnapshotError, load

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too

RNG = np.random.default_rng(1)
X = RNG.normal(size=(60, 5)).astype("float32")
Y = (X[:, 0] - X[:, 2] > 0).astype("int64") + (X[:, 1] > 1).astype("int64")


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    directory = tmp_path_factory.mktemp("snaps") / "run"
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy"
    )
    model.fit(
        X,
        Y,
        batch_size=20,
        epochs=3,
        validation_data=(X[:30], Y[:30]),
        verbose=0,
        callbacks=[SnapshotEnsemble(directory, n_snapshots=3, max_lr=0.3)],
    )
    return directory


def member_outputs(directory, files):
    return np.stack([keras.models.load_model(directory / f).predict(X, verbose=0) for f in files])


def copy(snapshots, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(snapshots, target)
    return target


@pytest.mark.reference("ensembles.load", "ensembles.MemberAverage")
def test_mean_of_member_probabilities(snapshots):
    ensemble = load(snapshots)
    files = [f"snapshot_{c:03d}.keras" for c in (1, 2, 3)]
    expected = member_outputs(snapshots, files).mean(axis=0)
    np.testing.assert_allclose(ensemble.predict(X, verbose=0), expected, atol=1e-6)
    assert len([layer for layer in ensemble.layers if isinstance(layer, keras.Model)]) == 3


def test_mean_logits_of_probability_members(snapshots):
    ensemble = load(snapshots, combine="mean_logits")
    probs = member_outputs(snapshots, [f"snapshot_{c:03d}.keras" for c in (1, 2, 3)])
    np.testing.assert_allclose(
        ensemble.predict(X, verbose=0), np.log(probs).mean(axis=0), atol=1e-5
    )


@pytest.mark.reference("ensembles.load")
def test_top_k_by_validation_loss(snapshots):
    manifest = json.loads((snapshots / "manifest.json").read_text())["snapshots"]
    best = sorted(manifest, key=lambda s: s["metrics"]["val_loss"])[:2]
    files = [s["file"] for s in sorted(best, key=lambda s: s["cycle"])]
    ensemble = load(snapshots, top_k=2)
    np.testing.assert_allclose(
        ensemble.predict(X, verbose=0), member_outputs(snapshots, files).mean(axis=0), atol=1e-6
    )
    with pytest.raises(ValueError, match="`top_k`"):
        load(snapshots, top_k=4)
    with pytest.raises(SnapshotError, match="val_auc"):
        load(snapshots, top_k=1, metric="val_auc")


def test_save_load_round_trip(snapshots, tmp_path):
    ensemble = load(snapshots)
    ensemble.save(tmp_path / "ens.keras")
    restored = keras.models.load_model(tmp_path / "ens.keras")
    np.testing.assert_array_equal(restored.predict(X, verbose=0), ensemble.predict(X, verbose=0))


@pytest.mark.reference("ensembles.SnapshotError")
def test_truncated_snapshot_is_named(snapshots, tmp_path):
    directory = copy(snapshots, tmp_path)
    path = directory / "snapshot_002.keras"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(SnapshotError, match="snapshot_002.keras.*truncated"):
        load(directory)


def test_missing_snapshot_is_named(snapshots, tmp_path):
    directory = copy(snapshots, tmp_path)
    (directory / "snapshot_003.keras").unlink()
    with pytest.raises(SnapshotError, match="snapshot_003.keras.*missing"):
        load(directory)


def test_corrupted_but_same_size_is_named(snapshots, tmp_path):
    directory = copy(snapshots, tmp_path)
    path = directory / "snapshot_001.keras"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="snapshot_001.keras"):
        load(directory)


def test_mismatched_snapshot_is_named(snapshots, tmp_path):
    from kerasopt.callbacks.snapshot import file_sha256

    directory = copy(snapshots, tmp_path)
    other = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="softmax")])
    path = directory / "snapshot_002.keras"
    other.save(path)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["snapshots"][1].update(bytes=path.stat().st_size, sha256=file_sha256(path))
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SnapshotError, match="snapshot_002.keras.*does not match"):
        load(directory)


def test_incomplete_manifest_and_missing_manifest(snapshots, tmp_path):
    directory = copy(snapshots, tmp_path)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["snapshots"].pop()
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SnapshotError, match="lists 2 snapshots but the run planned 3"):
        load(directory)
    with pytest.raises(SnapshotError, match="manifest"):
        load(tmp_path / "nowhere")


def test_argument_validation(snapshots):
    with pytest.raises(ValueError, match="`combine`"):
        load(snapshots, combine="vote")
    with pytest.raises(ValueError, match="`member_outputs`"):
        load(snapshots, member_outputs="scores")


@pytest.mark.reference("ensembles.MemberAverage")
def test_member_average_layer_closed_forms():
    rng = np.random.default_rng(0)
    logits = [rng.normal(size=(4, 3)).astype("float32") for _ in range(3)]
    softmax = [np.exp(z) / np.exp(z).sum(-1, keepdims=True) for z in logits]
    np.testing.assert_allclose(
        MemberAverage("mean_probabilities", "logits")(logits), np.mean(softmax, 0), atol=1e-6
    )
    np.testing.assert_allclose(
        MemberAverage("mean_logits", "logits")(logits), np.mean(logits, 0), atol=1e-6
    )
    np.testing.assert_allclose(
        MemberAverage("mean_probabilities", "probabilities")(softmax),
        np.mean(softmax, 0),
        atol=1e-6,
    )
    layer = MemberAverage("mean_logits", "probabilities", epsilon=1e-9, name="avg")
    restored = MemberAverage.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="`epsilon`"):
        MemberAverage(epsilon=0)
