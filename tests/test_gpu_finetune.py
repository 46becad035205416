"""benchmarks/gpu_finetune.py in its tiny CPU configuration (synthetic images, weights=None,
MobileNet alpha 0.25 at 32 px): the whole script runs on the current backend and writes both
results files, with the device named and every step measured or its skip recorded."""

import json

import pytest

from benchmarks import gpu_finetune

pytestmark = pytest.mark.portable


def test_tiny_configuration_writes_both_results_files(tmp_path):
    argv = ["--quick", "--synthetic", "--backbone", "mobilenet", "--image-size", "32"]
    argv += ["--policies", "float32", "--steps", "2", "--epochs", "2", "--out", str(tmp_path)]
    result = gpu_finetune.main(argv)
    saved = json.loads((tmp_path / "gpu_finetune.json").read_text())
    assert saved["device"]["jax_device_kind"] and saved["settings"]["jit_compile"] is True
    assert saved["errors"] == [] and saved["skipped"] == []
    head = saved["throughput"]["float32"]["head"]
    assert len(head["epoch_s"]) == 2 and head["images_per_second"] > 0
    job = saved["main_job"]
    assert job["n_train"] == 48 and job["n_val"] == 24 and 0 <= job["val_accuracy"] <= 1
    assert job["plan"]["name"] == "top"  # the recipe's plan for a small, similar set
    assert len(job["phases"]["head"]["epoch_s"]) == job["plan"]["epochs_head"]
    markdown = (tmp_path / "gpu_finetune.md").read_text()
    assert "| float32 |" in markdown and "Main job" in markdown
    assert result["main_job"]["val_accuracy"] == job["val_accuracy"]


def test_a_spent_budget_skips_steps_and_still_writes_results(tmp_path):
    argv = ["--quick", "--synthetic", "--backbone", "mobilenet", "--image-size", "32"]
    argv += ["--budget", "0", "--out", str(tmp_path)]
    gpu_finetune.main(argv)
    saved = json.loads((tmp_path / "gpu_finetune.json").read_text())
    assert saved["main_job"] == {"skipped": "wall-clock budget"}
    assert all(run == {"skipped": "wall-clock budget"} for run in saved["throughput"].values())
    assert saved["pipeline"]["images_per_second"]["decode"] > 0  # the host pipeline always runs
    assert "skipped: throughput mixed_bfloat16" in (tmp_path / "gpu_finetune.md").read_text()
