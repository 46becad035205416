"""The main job runs end to end and its reloaded model predicts identically (slow)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["reloaded_predictions_identical"] is True
    assert metrics["test_accuracy"] > 0.5  # 2 epochs on digits; chance is 0.1
    for name in ("model.keras", "scale_report_init.png", "scale_report_trained.png"):
        assert (tmp_path / name).is_file()
