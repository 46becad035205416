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

import recipes.finetune as finetune

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--weights", "none", "--backbone", "mobilenet", "--alpha", "0.25", "--image-size", "32",
        "--batch-size", "4", "--epochs-head", "1", "--epochs-finetune", "1", "--verbose", "0"]

AUDIT = '''
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
'''


def _small_data(assets, root):
    import shutil

    for split, n in (("train", 4), ("val", 2)):
        for cls in ("ants", "bees"):
            (root / split / cls).mkdir(parents=True)
            photos = sorted(p for p in (assets / "datasets" / "hymenoptera_data" / split / cls).glob("*.jpg") if " " not in p.name)
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
    argv = ["--data", "d", "--workers", "2", "--out", "o", "--workers-timeout=60", "--workers=3", "--verbose", "0"]
    assert finetune.without_workers(argv) == ["--data", "d", "--out", "o", "--verbose", "0"]


@pytest.mark.slow
def test_two_workers_leave_one_complete_run_written_by_the_chief_alone(assets, tmp_path):
    """~45 s for 2 workers + ~30 s for 1 process on 2 shared cores; bounded by --workers-timeout
    and the subprocess timeouts (every worker is killed by `launch_local` on any exit)."""
    data = _small_data(assets, tmp_path / "data")
    hook, audit, runs, tmp = (tmp_path / d for d in ("hook", "audit", "runs", "tmp"))
    for folder in (hook, audit, runs, tmp):
        folder.mkdir()
    (hook / "sitecustomize.py").write_text(AUDIT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), str(ROOT)]), "TMPDIR": str(tmp),
           "KERASOPT_AUDIT_WATCH": str(runs), "KERASOPT_AUDIT_LOG": str(audit)}
    env.pop("TF_CONFIG", None)
    command = [sys.executable, "-m", "recipes.finetune", "--data", str(data), *TINY]

    two = subprocess.run([*command, "--out", str(runs / "two"), "--workers", "2", "--workers-timeout", "300"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=360)
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run([*command, "--out", str(tmp_path / "one")], env={**env, "KERASOPT_AUDIT_WATCH": "/nonexistent"},
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]

    assert sorted(p.name for p in runs.iterdir()) == ["two"]  # no RUN.partial, RUN.resume, RUN.old-*
    assert _listing(runs / "two") == _listing(tmp_path / "one")
    assert {"model.keras", "metrics.json", "log.csv", "saved_model/saved_model.pb",
            "training_curves.png", "confusion_matrix.png"} <= set(_listing(runs / "two"))
    metrics = json.loads((runs / "two" / "metrics.json").read_text())
    assert metrics["phases"]["scratch"]["device"].endswith(", 2 workers")
    assert len(metrics["history"]["loss"]) == 2  # 1 + 1 epochs, one line each in log.csv
    assert len((runs / "two" / "log.csv").read_text().splitlines()) == 3
    assert "Run folder:" in two.stdout  # the chief's summary, printed by the launcher

    chief, other = ((audit / f"worker_{i}.txt").read_text().splitlines() for i in range(2))
    assert chief[0] == other[0] == "started"  # the hook ran in both workers
    assert any("two.partial" in line for line in chief)  # and sees the chief's writes
    assert other == ["started"], other[:20]  # the non-chief wrote nothing there
    assert list(tmp.iterdir()) == []  # its private folder and the worker logs are removed
