"""recipes.snapshot_ensemble end to end on digits (no assets), in this process: one seed, three
epochs, three snapshots. Every reported score is recomputed here from the snapshot files the
run left (Huang et al. 2017: the ensemble averages its snapshots' probabilities), and each
snapshot's recorded val_loss from `evaluate` on the validation split."""

import json

import keras
import numpy as np
import pytest

from tests.recipes._outputs import check_folder, check_png


def scores(p, y):
    p = np.clip(p, 1e-12, 1.0)
    return {
        "accuracy": float(np.mean(p.argmax(-1) == y)),
        "nll": float(-np.mean(np.log(p[np.arange(len(y)), y]))),
    }


def test_snapshot_ensemble_on_digits(tmp_path):
    from kerasopt import datasets
    from recipes.snapshot_ensemble import main

    main(
        ["--dataset", "digits", "--epochs", "3", "--snapshots", "3", "--width", "16"]
        + ["--seeds", "0", "--verbose", "0", "--out", str(tmp_path)]
    )
    check_folder(tmp_path, ["results.json", "results.md", "schedules.png", "seed_0"])
    check_png(tmp_path / "schedules.png")
    folder = tmp_path / "seed_0"
    manifest = json.loads((folder / "manifest.json").read_text())["snapshots"]
    check_folder(folder, ["manifest.json"] + [s["file"] for s in manifest])
    assert [(s["cycle"], s["epoch"]) for s in manifest] == [(1, 1), (2, 2), (3, 3)]

    # the recipe's split, restated: digits flattened, 20% test (seed 0), then 10% of the rest
    # for validation (seed 1)
    x, y = datasets.load("digits")
    x_train, y_train, x_test, y_test = datasets.split(x.reshape(len(x), -1), y, 0.2, seed=0)
    _, _, x_val, y_val = datasets.split(x_train, y_train, 0.1, seed=1)
    models = [keras.models.load_model(folder / s["file"]) for s in manifest]
    for snapshot, model in zip(manifest, models, strict=True):
        loss = model.evaluate(x_val, y_val, verbose=0)[0]
        assert snapshot["metrics"]["val_loss"] == pytest.approx(loss, rel=1e-5)
    probs = [m.predict(x_test, verbose=0).astype("float64") for m in models]
    best = np.argsort([s["metrics"]["val_loss"] for s in manifest])[:2]  # top_k = 3 // 2 + 1
    expected = {
        "snapshot ensemble (all)": scores(np.mean(probs, axis=0), y_test),
        "best 2 snapshots by val_loss": scores(np.mean([probs[i] for i in best], axis=0), y_test),
        "last snapshot alone": scores(probs[-1], y_test),
    }
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    for name, want in expected.items():
        assert results[name]["accuracy"]["runs"] == [pytest.approx(want["accuracy"], abs=1e-9)]
        # float32 member outputs averaged in a different order: rel 1e-5
        assert results[name]["nll"]["runs"] == [pytest.approx(want["nll"], rel=1e-5)]
    # better than chance beyond sampling error (sd sqrt(0.09 / n) of a guessing classifier)
    assert expected["snapshot ensemble (all)"]["accuracy"] > 0.1 + 5 * np.sqrt(0.09 / len(y_test))
