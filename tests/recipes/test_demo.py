"""recipes.demo runs end to end and its reloaded model scores what the trained one did (one
epoch in process in the default run; two epochs in a subprocess under `-m slow`)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def check_run(out):
    """The run folder of recipes.demo, checked without trusting the recipe's own flag: the saved
    model, loaded here, scores on the recipe's test split (datasets.split, seed 0) what the
    trained model scored there (the same float32 computation on the same rows; rel 1e-6 covers
    a different reduction order across processes)."""
    import keras

    from kerasopt import datasets

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reloaded_predictions_identical"] is True
    x, y = datasets.digits()
    _, _, x_test, y_test = datasets.split(x.reshape(-1, 64) / 16.0, y, 0.2, 0)
    reloaded = keras.models.load_model(out / "model.keras")
    loss, accuracy = reloaded.evaluate(x_test, y_test, verbose=0)
    assert loss == pytest.approx(metrics["test_loss"], rel=1e-6)
    assert accuracy == metrics["test_accuracy"]
    for name in ("model.keras", "scale_report_init.png", "scale_report_trained.png"):
        assert (out / name).is_file()
    return metrics


def test_demo_one_epoch_in_process(tmp_path, monkeypatch):
    """The cheap variant in the default run: one epoch, in this process (no second import)."""
    import recipes.demo

    monkeypatch.setattr(sys, "argv", ["demo", "--epochs", "1", "--out", str(tmp_path)])
    recipes.demo.main()
    check_run(tmp_path)


@pytest.mark.slow
def test_demo_runs_and_reload_is_identical(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-m", "recipes.demo", "--epochs", "2", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    metrics = check_run(tmp_path)
    assert metrics["test_accuracy"] > 0.5  # 2 epochs on digits; chance is 0.1
