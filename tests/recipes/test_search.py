"""recipes.search end to end on digits (and resumed): in this process in the default run, as its
own process and on a folder of images in the slow set."""

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


def _digits_search_and_resume(search, out, trials):
    """Run `search(*argv)` on digits with `trials` trials in 2 rounds, check the run folder
    and the reported accuracy, then run it again with one trial more in the same folder."""
    common = ["--data", "digits", "--rounds", "2", "--epochs", "1", "--ensemble", "2"]
    search("--trials", trials, *common, "--out", out)
    first = json.loads((out / "trials.json").read_text())["rows"]
    per_round = -(-trials // 2)  # ceil(trials / rounds) trials per round
    assert [r["round"] for r in first] == [i // per_round for i in range(trials)]
    assert all(r["status"] == "COMPLETED" for r in first)
    for name in (
        "trials.md",
        "rounds.png",
        "search.log",
        "ensemble/model.keras",
        "ensemble/saved_model",
    ):
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["k"] == 2
    # The reported accuracy is the shipped ensemble's on the recipe's test split, recomputed
    # here from the saved model and datasets.split (seed 0, 20%).
    import keras
    import numpy as np

    import kerasopt  # noqa: F401  (registers MemberAverage for loading)
    from kerasopt import datasets

    x, y = datasets.load("digits")
    _, _, x_test, y_test = datasets.split(x, y, 0.2, seed=0)
    shipped = keras.models.load_model(out / "ensemble" / "model.keras")
    accuracy = float(np.mean(shipped.predict(x_test, verbose=0).argmax(-1) == y_test))
    assert summary["ensemble_test_accuracy"] == accuracy
    # Better than chance beyond sampling error: a guessing classifier's accuracy on n test
    # digits has mean 0.1 and sd sqrt(0.1 * 0.9 / n) (0.016 at n = 360); five of those.
    assert accuracy > 0.1 + 5 * np.sqrt(0.1 * 0.9 / len(y_test))
    search("--trials", trials + 1, *common, "--out", out)  # same folder: the search continues
    rows = json.loads((out / "trials.json").read_text())["rows"]
    assert len(rows) == trials + 1 and rows[:trials] == first


@pytest.mark.slow
def test_digits_search_writes_its_run_folder_and_resumes(tmp_path):
    """The command in its own process, 3 trials then 4."""
    _digits_search_and_resume(run, tmp_path, 3)


def test_digits_search_in_process_writes_its_run_folder_and_resumes(tmp_path):
    """The default run's variant: `kerasopt search`'s `main` in this process, 2 trials then 3."""
    from kerasopt.cli import search

    _digits_search_and_resume(lambda *args: search.main(list(map(str, args))), tmp_path, 2)


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
