"""recipes.search end to end on digits (and resumed), and on a folder of images (slow)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "kerasopt.cli", "search", *map(str, args)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_digits_search_writes_its_run_folder_and_resumes(tmp_path):
    common = [
        "--data",
        "digits",
        "--rounds",
        "2",
        "--epochs",
        "1",
        "--ensemble",
        "2",
        "--out",
        tmp_path,
    ]
    run("--trials", "3", *common)
    first = json.loads((tmp_path / "trials.json").read_text())["rows"]
    assert [r["round"] for r in first] == [0, 0, 1] and all(
        r["status"] == "COMPLETED" for r in first
    )
    for name in (
        "trials.md",
        "rounds.png",
        "search.log",
        "ensemble/model.keras",
        "ensemble/saved_model",
    ):
        assert (tmp_path / name).exists(), name
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["k"] == 2
    # The reported accuracy is the shipped ensemble's on the recipe's test split, recomputed
    # here from the saved model and datasets.split (seed 0, 20%).
    import keras
    import numpy as np

    import kerasopt  # noqa: F401  (registers MemberAverage for loading)
    from kerasopt import datasets

    x, y = datasets.load("digits")
    _, _, x_test, y_test = datasets.split(x, y, 0.2, seed=0)
    shipped = keras.models.load_model(tmp_path / "ensemble" / "model.keras")
    accuracy = float(np.mean(shipped.predict(x_test, verbose=0).argmax(-1) == y_test))
    assert summary["ensemble_test_accuracy"] == accuracy
    # Better than chance beyond sampling error: a guessing classifier's accuracy on n test
    # digits has mean 0.1 and sd sqrt(0.1 * 0.9 / n) (0.016 at n = 360); five of those.
    assert accuracy > 0.1 + 5 * np.sqrt(0.1 * 0.9 / len(y_test))
    run("--trials", "4", *common)  # same folder: the search continues
    rows = json.loads((tmp_path / "trials.json").read_text())["rows"]
    assert len(rows) == 4 and rows[:3] == first


@pytest.mark.slow
def test_folder_search_fine_tunes_a_backbone(tmp_path, keras_home, assets):
    data = Path(assets) / "datasets" / "hymenoptera_data"
    run(
        "--data",
        data,
        "--trials",
        "1",
        "--rounds",
        "1",
        "--ensemble",
        "1",
        "--batch-size",
        "32",
        "--out",
        tmp_path,
    )
    rows = json.loads((tmp_path / "trials.json").read_text())["rows"]
    assert rows[0]["status"] == "COMPLETED"
    assert {
        "head_learning_rate",
        "finetune_learning_rate",
        "label_smoothing",
        "unfreeze_fraction",
    } <= set(rows[0])
    assert (tmp_path / "ensemble" / "model.keras").is_file()
