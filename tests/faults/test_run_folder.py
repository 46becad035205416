"""The pieces the fault tests rely on, one by one, without training: publishing by rename,
the run-folder rules, stale temporary folders, the Keras cache copy, load_model's messages."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import kerasopt
from kerasopt import _io
from kerasopt.transfer.run_folder import (
    RunFolder,
    RunFolderError,
    check_run_dir,
    staging_dir,
    state_dir,
)


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _tree(folder):
    return {
        str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_replace_path_swaps_a_folder_whole_and_removes_the_old(tmp_path):
    old, new = tmp_path / "run", tmp_path / "run.partial"
    (old / "sub").mkdir(parents=True)
    (old / "a.txt").write_text("old a")
    (old / "sub" / "only_old.txt").write_text("old")
    (new / "sub").mkdir(parents=True)
    (new / "a.txt").write_text("new a")
    _io.replace_path(new, old)
    assert _tree(old) == {"a.txt": "new a"}  # nothing of the old run survives in it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_replace_path_over_nothing_and_over_an_empty_folder(tmp_path):
    for target_exists in (False, True):
        src, dst = tmp_path / f"src{target_exists}", tmp_path / f"dst{target_exists}"
        src.mkdir()
        (src / "f").write_text("x")
        if target_exists:
            dst.mkdir()
        _io.replace_path(src, dst)
        assert _tree(dst) == {"f": "x"} and not src.exists()


def test_exchange_is_atomic_where_the_kernel_has_it(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "which").write_text("a")
    (b / "which").write_text("b")
    exchanged = _io._renameat2_exchange(a, b)
    if not exchanged and not sys.platform.startswith("linux"):
        pytest.skip("no renameat2(RENAME_EXCHANGE) off Linux: replace_path renames the old aside")
    # On Linux (>= 3.15) the exchange is the atomic publish the reliability guide promises.
    assert exchanged, "renameat2(RENAME_EXCHANGE) failed on Linux: replace_path is not atomic"
    assert (a / "which").read_text() == "b" and (b / "which").read_text() == "a"


def test_remove_stale_keeps_living_processes(tmp_path):
    dead, alive = _dead_pid(), os.getpid()
    for name in (f"run.old-{dead}", f"run.old-{alive}", "run.old-x", "other"):
        (tmp_path / name).mkdir()
    assert _io.remove_stale(tmp_path, "run.old-") == [f"run.old-{dead}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"run.old-{alive}", "run.old-x", "other"]
    )


def test_atomic_path_killed_before_rename_leaves_the_target(tmp_path):
    """The fault hook fires between writing and renaming: the target keeps its old bytes."""
    target = tmp_path / "model.keras"
    target.write_bytes(b"old")
    code = (
        "import os; os.environ['KERASOPT_FAULT_POINT'] = 'write:model.keras'\n"
        "from kerasopt._io import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp: tmp.write_bytes(b'new, longer content')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert proc.returncode == -9
    assert target.read_bytes() == b"old"


@pytest.mark.portable
@pytest.mark.reference("transfer.RunFolderError")
def test_run_folder_rules(tmp_path):
    run = tmp_path / "run"
    check_run_dir(run)  # absent: fine
    run.mkdir()
    check_run_dir(run)  # empty: fine
    (run / "metrics.json").write_text("{}")
    with pytest.raises(RunFolderError, match="already holds a run.*overwrite=True"):
        check_run_dir(run)
    check_run_dir(run, overwrite=True)
    with pytest.raises(RunFolderError, match="Nothing to resume.*finished run"):
        check_run_dir(run, resume=True)
    folder = RunFolder(run, {"backbone": "mobilenet"}, overwrite=True)
    assert staging_dir(run).is_dir() and (state_dir(run) / "state.json").is_file()
    assert json.loads((run / "metrics.json").read_text()) == {}  # the old run stays until publish
    (state_dir(run) / "owner").write_text(str(os.getppid()))  # another living process writes it
    with pytest.raises(RunFolderError, match="Another process"):
        check_run_dir(run, overwrite=True)
    (state_dir(run) / "owner").write_text(str(_dead_pid()))  # as if its process had been killed
    with pytest.raises(RunFolderError, match="interrupted run.*--resume.*--overwrite"):
        check_run_dir(run)
    with pytest.raises(
        RunFolderError, match=r"other settings \(backbone: 'mobilenet' -> 'resnet50'\)"
    ):
        RunFolder(run, {"backbone": "resnet50"}, resume=True)
    assert folder.epochs_done() == 0


def test_keras_cache_copies_of_dead_processes_are_removed(tmp_path, monkeypatch):
    from kerasopt.cli import _offline

    monkeypatch.setattr(_offline.tempfile, "gettempdir", lambda: str(tmp_path))
    dead, alive = _dead_pid(), os.getpid()
    for name in (
        f"kerasopt-keras-home-{dead}-abc",
        f"kerasopt-keras-home-{alive}-abc",
        "kerasopt-keras-home-old",
    ):
        (tmp_path / name / "models").mkdir(parents=True)
    assert _offline.remove_stale_caches() == [f"kerasopt-keras-home-{dead}-abc"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"kerasopt-keras-home-{alive}-abc",
        "kerasopt-keras-home-old",
    ]


def test_keras_cache_copy_is_removed_on_sigterm(assets, tmp_path):
    code = (
        "import os, signal\n"
        "from kerasopt.cli._offline import find_assets, use_offline_keras_home\n"
        "home = use_offline_keras_home(find_assets())\n"
        "print(home, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "import time; time.sleep(30)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_HOME"}
    env.update(TMPDIR=str(tmp_path), PYTHONPATH=os.getcwd())
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    home = proc.stdout.strip()
    assert home.startswith(str(tmp_path / "kerasopt-keras-home-")), proc.stderr
    assert proc.returncode == 128 + 15
    assert list(tmp_path.iterdir()) == []


@keras.saving.register_keras_serializable(package="kerasopt")
class _Vanishing(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


def test_load_model_says_to_import_kerasopt_for_an_unknown_kerasopt_class(tmp_path):
    path = tmp_path / "m.keras"
    inputs = keras.Input((3,))
    keras.Model(inputs, _Vanishing()(inputs)).save(path)
    keras.saving.get_custom_objects().pop("kerasopt>_Vanishing")  # as in a process without it
    try:
        with pytest.raises(ValueError, match="kerasopt class '_Vanishing'.*`import kerasopt`"):
            kerasopt.load_model(path)
    finally:
        keras.saving.get_custom_objects()["kerasopt>_Vanishing"] = _Vanishing
    np.testing.assert_allclose(kerasopt.load_model(path).predict(np.ones((1, 3)), verbose=0), 2.0)


@pytest.mark.reference("saving.load_model")
def test_load_model_on_a_truncated_or_missing_file(tmp_path):
    path = tmp_path / "m.keras"
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="not a complete .keras file"):
        kerasopt.load_model(path)
    with pytest.raises(FileNotFoundError, match="No model file"):
        kerasopt.load_model(tmp_path / "none.keras")
