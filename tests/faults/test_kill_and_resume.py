"""Fault injection: `recipes.finetune` is SIGKILLed at a named point, then resumed.

Each run is a subprocess on a tiny generated folder (16 training and 8 validation ants/bees
JPEGs at 32 px, MobileNet alpha 0.25 from the offline Keras cache, 2 head + 2 fine-tune epochs,
batch 4), offline (sockets refused) and with TensorFlow's op determinism on, so that an
uninterrupted run is reproducible bit for bit. The kill comes from `KERASOPT_FAULT_POINT`
(`kerasopt/_faults.py`): during phase 1 (after the first batch of epoch 2), during phase 2
(same), while model.keras is written (temporary file complete, not yet renamed) -- one run
killed three times, each --resume going on from the last kill -- and during the SavedModel
export (same), into a folder that already holds a run, with --overwrite.

After each kill: (a) the run folder is untouched (absent, or the earlier run byte for byte), so
no final-named file is empty, partial or from another run; (b) `--resume` completes and its
folder passes the checks of a straight run's, with the same files, metrics keys, log lines and
weights equal to the straight run's; (c) no temporary Keras cache is left (the killed run's copy
is removed by the next start).
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARGS = [
    "--backbone",
    "mobilenet",
    "--alpha",
    "0.25",
    "--image-size",
    "32",
    "--batch-size",
    "4",
    "--strategy",
    "top",
    "--epochs-head",
    "2",
    "--epochs-finetune",
    "2",
    "--verbose",
    "0",
]
OFFLINE = (
    "import socket, sys\n"
    "def refuse(*a, **k): raise OSError('network disabled for this test')\n"
    "socket.create_connection = refuse\n"
    "from kerasopt.cli.finetune import main\n"
    "main(sys.argv[1:])\n"
)


@pytest.fixture(scope="module")
def tiny(assets, tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    photos = assets / "datasets" / "hymenoptera_data"
    for split, n in (("train", 8), ("val", 4)):
        for cls in ("ants", "bees"):
            (root / "data" / split / cls).mkdir(parents=True)
            for f in sorted(p for p in (photos / split / cls).glob("*.jpg") if " " not in p.name)[
                :n
            ]:
                shutil.copy(f, root / "data" / split / cls / f.name)
    return root


def recipe(tiny, out, *extra, fault=None):
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_HOME", "KERASOPT_FAULT_POINT")}
    env.update(
        PYTHONPATH=str(ROOT),
        TMPDIR=str(tiny / "tmp"),
        TF_DETERMINISTIC_OPS="1",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    if fault:
        env["KERASOPT_FAULT_POINT"] = fault
    (tiny / "tmp").mkdir(exist_ok=True)
    argv = [*ARGS, "--data", str(tiny / "data"), "--out", str(out), *extra]
    return subprocess.run(
        [sys.executable, "-c", OFFLINE, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def caches(tiny):
    return sorted(p.name for p in (tiny / "tmp").glob("kerasopt-keras-home-*"))


def digest(folder):
    """{relative path: sha256} of every file under `folder`."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def check_run_folder(out):
    """The checks every finished run folder passes; returns (top-level names, metrics)."""
    import tensorflow as tf

    import kerasopt

    for leftover in (f"{out.name}.partial", f"{out.name}.resume"):
        assert not (out.parent / leftover).exists(), leftover
    assert not list(out.parent.glob(f"{out.name}.old-*"))
    for path in out.rglob("*"):
        if path.is_file() and "tensorboard" not in path.parts:
            assert path.stat().st_size > 0, path
    assert not [p for p in out.rglob(".*") if p.name != ".keep"], "temporary files left"
    for keras_file in (
        out / "model.keras",
        out / "checkpoints" / "head.keras",
        out / "checkpoints" / "finetune.keras",
    ):
        assert zipfile.is_zipfile(keras_file), keras_file
    model = kerasopt.load_model(out / "model.keras")
    served = tf.saved_model.load(str(out / "saved_model"))
    x = np.random.default_rng(0).uniform(0, 255, (2, 40, 40, 3)).astype("float32")
    np.testing.assert_allclose(
        served.serve(tf.constant(x)).numpy(), model.predict(x, verbose=0), atol=1e-5
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert json.loads((out / "class_names.json").read_text()) == ["ants", "bees"]
    lines = (out / "log.csv").read_text().splitlines()
    assert len(lines) == 1 + len(metrics["history"]["loss"]) == 1 + 4
    assert [int(line.split(",")[0]) for line in lines[1:]] == [
        0,
        1,
        2,
        3,
    ]  # one line per epoch, no repeats
    header = lines[0].split(",")
    logged = [float(line.split(",")[header.index("loss")]) for line in lines[1:]]
    np.testing.assert_allclose(
        logged, metrics["history"]["loss"]
    )  # the log and the metrics: one run
    for png in ("training_curves.png", "confusion_matrix.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return sorted(p.name for p in out.iterdir()), metrics, model


@pytest.fixture(scope="module")
def straight(tiny):
    out = tiny / "straight"
    proc = recipe(tiny, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert caches(tiny) == []
    return out, check_run_folder(out)


def _same_run(reference, result):
    names, metrics, model = result
    ref_names, ref_metrics, ref_model = reference
    assert names == ref_names
    assert set(metrics) == set(ref_metrics)
    assert {k: set(v) for k, v in metrics["phases"].items()} == {
        k: set(v) for k, v in ref_metrics["phases"].items()
    }
    np.testing.assert_allclose(
        metrics["history"]["loss"], ref_metrics["history"]["loss"], rtol=1e-6
    )
    for a, b in zip(model.get_weights(), ref_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_kills_in_phase_1_in_phase_2_and_in_model_keras_then_resume_equals_a_straight_run(
    tiny, straight
):
    """One run killed three times, each `--resume` going on from where the last one stopped: in
    epoch 2 of phase 1, in epoch 2 of phase 2, and while model.keras is written."""
    out = tiny / "killed"
    expected_state = {
        "head-epoch-2": ("head", 1),
        "finetune-epoch-2": ("finetune", 1),
        "write:model.keras": ("finetune", 2),
    }
    for i, (fault, (phase, epochs_done)) in enumerate(expected_state.items()):
        killed = recipe(tiny, out, *(["--resume"] if i else []), fault=fault)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        assert not out.exists()  # (a) nothing final-named exists before the run is complete
        state = json.loads((tiny / "killed.resume" / "state.json").read_text())
        assert (state["current"]["phase"], state["current"]["epochs_done"]) == (phase, epochs_done)
        log = (tiny / "killed.partial" / "log.csv").read_text().splitlines()
        head_epochs = (
            len(state["phases"]["head"]["history"]["loss"]) if "head" in state["phases"] else 0
        )
        assert len(log) == 1 + head_epochs + epochs_done  # one log line per completed epoch
        assert (
            len(caches(tiny)) == 1
        )  # the killed run's Keras cache copy (the last start removed earlier ones)
    resumed = recipe(tiny, out, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert caches(tiny) == []  # (c) the killed run's copy is gone, and the finished run's too
    _same_run(straight[1], check_run_folder(out))  # (b) same files, keys, log and weights


def test_kill_during_savedmodel_export_over_an_existing_run(tiny, straight):
    out = tiny / "existing"
    shutil.copytree(straight[0], out)
    before = digest(out)
    killed = recipe(tiny, out, "--overwrite", fault="write:saved_model")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert digest(out) == before  # (a) the earlier run, untouched, byte for byte
    resumed = recipe(tiny, out, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert caches(tiny) == []  # (c)
    result = check_run_folder(out)  # (b)
    _same_run(straight[1], result)
    assert (
        digest(out)["metrics.json"] != before["metrics.json"]
    )  # the new run replaced the old (times differ)
