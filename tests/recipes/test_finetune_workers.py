"""`python -m recipes.finetune --workers N`: a local cluster of N workers on 127.0.0.1 that
leaves the same run folder as one process, written by the chief alone.

The non-chief worker's writes are watched by a Python audit hook (`sys.addaudithook`, installed
through a `sitecustomize` module on the workers' PYTHONPATH) that records every file opened for
writing, every folder made and every rename or removal under the folder that holds the run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kerasopt.cli.finetune as finetune

ROOT = Path(__file__).resolve().parents[2]

AUDIT = """
import json, os, sys
_task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
if "KERASOPT_AUDIT_WATCH" in os.environ and _task:
    _watch = os.environ["KERASOPT_AUDIT_WATCH"]
    _log = open(os.path.join(os.environ["KERASOPT_AUDIT_LOG"], f"worker_{_task['index']}.txt"), "w", buffering=1)
    _log.write("started\\n")
    _EVENTS = ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "shutil.rmtree", "os.truncate")
    _WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def _hook(event, args):
        if event == "open":
            path, mode, flags = args
            if not isinstance(path, (str, bytes, os.PathLike)):
                return
            if not (any(c in str(mode or "") for c in "wax+") or (flags or 0) & _WRITE):
                return
            paths = [path]
        elif event in _EVENTS:
            paths = [a for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
        else:
            return
        for p in paths:
            p = os.path.abspath(os.fsdecode(p))
            if p.startswith(_watch):
                _log.write(f"{event} {p}\\n")

    sys.addaudithook(_hook)
"""


def _small_data(assets, root):
    import shutil

    for split, n in (("train", 4), ("val", 2)):
        for cls in ("ants", "bees"):
            (root / split / cls).mkdir(parents=True)
            photos = sorted(
                p
                for p in (assets / "datasets" / "hymenoptera_data" / split / cls).glob("*.jpg")
                if " " not in p.name
            )
            for photo in photos[:n]:
                shutil.copy(photo, root / split / cls / photo.name)
    return root


def _listing(run):
    """Relative paths of the run folder's files; TensorBoard event files (named after the
    host, process and time) reduced to their folder."""
    names = set()
    for path in run.rglob("*"):
        if path.is_file():
            rel = path.relative_to(run).as_posix()
            names.add(rel.rsplit("/", 1)[0] + "/<events>" if "tfevents" in path.name else rel)
    return sorted(names)


def test_without_workers_drops_only_the_workers_flags():
    argv = [
        "--data",
        "d",
        "--workers",
        "2",
        "--out",
        "o",
        "--workers-timeout=60",
        "--workers=3",
        "--verbose",
        "0",
    ]
    assert finetune.without_workers(argv) == ["--data", "d", "--out", "o", "--verbose", "0"]


def test_configure_device_multi_worker_and_its_check():
    """In a fresh process (the strategy must come before any TensorFlow operation)."""
    code = (
        "import tensorflow as tf; from kerasopt import distributed; from kerasopt.transfer import configure_device; "
        "s = configure_device(False, False, 'multi_worker'); "
        "print(isinstance(s.distribution, tf.distribute.MultiWorkerMirroredStrategy), s.distribution is distributed.multi_worker_strategy(), s.description)"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[:2] == ["True", "True"]
    assert done.stdout.strip().endswith(", 1 workers")
    from kerasopt.transfer import configure_device

    with pytest.raises(
        ValueError, match="Argument `distribute` must be one of .* Received: distribute='cluster'"
    ):
        configure_device(distribute="cluster")


@pytest.fixture
def cluster(assets, tmp_path):
    """(command, env, folders): the recipe on small data, the audit hook on the workers'
    PYTHONPATH, TMPDIR in the test's folder."""
    data = _small_data(assets, tmp_path / "data")
    folders = {d: tmp_path / d for d in ("hook", "audit", "runs", "tmp")}
    for folder in folders.values():
        folder.mkdir()
    (folders["hook"] / "sitecustomize.py").write_text(AUDIT)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(folders["hook"]), str(ROOT)]),
        "TMPDIR": str(folders["tmp"]),
        "KERASOPT_AUDIT_WATCH": str(folders["runs"]),
        "KERASOPT_AUDIT_LOG": str(folders["audit"]),
    }
    env.pop("TF_CONFIG", None)
    return (
        [sys.executable, "-m", "recipes.finetune", "--data", str(data), "--verbose", "0"],
        env,
        folders,
    )


def _run(command, env, timeout):
    """The recipe in a subprocess, bounded in time (`launch_local` kills the workers on any exit)."""
    done = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _check_only_the_chief_wrote(folders, run):
    assert sorted(p.name for p in folders["runs"].iterdir()) == [
        run
    ]  # no RUN.partial, RUN.resume, RUN.old-*
    chief, other = (
        (folders["audit"] / f"worker_{i}.txt").read_text().splitlines() for i in range(2)
    )
    assert chief[0] == other[0] == "started"  # the hook ran in both workers
    assert any(f"{run}.partial" in line for line in chief)  # and sees the chief's writes
    assert other == ["started"], other[:20]  # the non-chief wrote nothing there
    assert (
        list(folders["tmp"].iterdir()) == []
    )  # its private folder and the worker logs are removed


@pytest.mark.slow
def test_two_workers_leave_one_complete_run_written_by_the_chief_alone(cluster, tmp_path):
    """~45 s for 2 workers + ~30 s for 1 process on 2 shared cores."""
    command, env, folders = cluster
    tiny = [
        "--weights",
        "none",
        "--backbone",
        "mobilenet",
        "--alpha",
        "0.25",
        "--image-size",
        "32",
        "--batch-size",
        "4",
        "--epochs-head",
        "1",
        "--epochs-finetune",
        "1",
    ]
    run = folders["runs"] / "two"
    two = _run(
        [*command, *tiny, "--out", str(run), "--workers", "2", "--workers-timeout", "300"], env, 360
    )
    _run([*command, *tiny, "--out", str(tmp_path / "one")], env, 300)

    _check_only_the_chief_wrote(folders, "two")
    assert _listing(run) == _listing(tmp_path / "one")
    assert {
        "model.keras",
        "metrics.json",
        "log.csv",
        "saved_model/saved_model.pb",
        "training_curves.png",
        "confusion_matrix.png",
    } <= set(_listing(run))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["phases"]["scratch"]["device"].endswith(", 2 workers")
    assert len(metrics["history"]["loss"]) == 2  # 1 + 1 epochs, one line each in log.csv
    assert len((run / "log.csv").read_text().splitlines()) == 3
    assert "Run folder:" in two.stdout  # the chief's summary, printed by the launcher


@pytest.mark.slow
def test_two_workers_with_weight_averaging(cluster):
    """Both phases (ImageNet weights from the offline cache) and --average swa: ~35 s."""
    command, env, folders = cluster
    args = [
        "--backbone",
        "mobilenet",
        "--alpha",
        "0.25",
        "--image-size",
        "128",
        "--batch-size",
        "4",
        "--epochs-head",
        "1",
        "--epochs-finetune",
        "2",
        "--average",
        "swa",
    ]
    run = folders["runs"] / "avg"
    _run(
        [*command, *args, "--out", str(run), "--workers", "2", "--workers-timeout", "300"], env, 360
    )
    _check_only_the_chief_wrote(folders, "avg")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["average"] == "swa" and sorted(metrics["phases"]) == ["finetune", "head"]
    assert len(metrics["history"]["loss"]) == 3
    assert {"checkpoints/head.keras", "checkpoints/finetune.keras"} <= set(_listing(run))
