"""benchmarks/gpu_finetune.py in its `--tiny` CPU configuration (synthetic images, random weights,
MobileNet alpha 0.25 at 32 px): every step runs on the current machine and both results files are
written: the Keras compute runs, the precision record, the torch side (or why it was skipped),
the main job through the recipe's own command in a fresh process, and the host pipeline."""

import json

import keras
import pytest

from benchmarks import _torch_finetune, gpu_finetune

pytestmark = pytest.mark.portable


def test_tiny_configuration_writes_both_results_files(tmp_path):
    # The main job is the same JAX process on either backend (`_main_job` sets KERAS_BACKEND):
    # the default (TensorFlow) run checks it; CI's JAX pass runs every other step on JAX.
    main_job = keras.backend.backend() == "tensorflow"
    result = gpu_finetune.main(
        ["--tiny", "--main-runs", str(int(main_job)), "--out", str(tmp_path)]
    )
    saved = json.loads((tmp_path / "gpu_finetune.json").read_text())
    assert saved["errors"] == [] and saved["skipped"] == []
    assert saved["device"]["jax_device_kind"] and saved["settings"]["jit_compile"] is True
    if saved["device"]["jax_platform"] == "cpu":
        assert saved["precision"]["policy"] == "float32" and list(saved["keras"]) == ["float32"]
    head = saved["keras"]["float32"]["head"]
    assert len(head["epoch_s"]) == 2 and head["images_per_second"] > 0
    missing = _torch_finetune.available()
    if missing is None:
        assert saved["torch"]["finetune"]["images_per_second"] > 0
    else:  # the torch side says why it did not run
        assert saved["torch"] == {"skipped": missing} and "not installed" in missing
    assert saved["pipeline"]["images_per_second"]["cached"] > 0
    markdown = (tmp_path / "gpu_finetune.md").read_text()
    assert f"| Keras on {keras.backend.backend()} | float32 |" in markdown
    if main_job:
        job = saved["main_job"]["cold"]
        assert job["seconds"] > 0 and (tmp_path / job["run_folder"] / "metrics.json").is_file()
        assert job["command"].startswith("python -m recipes.finetune --data")
        assert job["test"], "the recipe's test report is in metrics.json"
        assert "Main job" in markdown
    else:
        assert saved["main_job"] == {}
    assert result["precision"] == saved["precision"]


def test_a_spent_budget_skips_steps_and_still_writes_results(tmp_path):
    gpu_finetune.main(["--tiny", "--budget", "0", "--main-runs", "0", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "gpu_finetune.json").read_text())
    assert saved["keras"]["float32"] == {"skipped": "wall-clock budget"}
    assert saved["pipeline"]["images_per_second"]["decode"] > 0  # the host pipeline always runs
    assert "skipped: keras float32" in (tmp_path / "gpu_finetune.md").read_text()
