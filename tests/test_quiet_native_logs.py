"""`kerasopt_cli.quiet_native_logs`: the two lines TensorFlow writes to stderr while it loads
are dropped, and every other byte written to the process's stderr in the block reaches it, in
order, including a failing block's traceback. The notes are written here as TensorFlow 2.21
prints them on a machine without CUDA drivers (copied from its stderr); the real command is
checked in `tests/transfer/test_adaptive.py` (its redirected-log test)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = r"""
import os, sys
from kerasopt_cli import quiet_native_logs
with quiet_native_logs():
    os.write(2, b"first\nWARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
    os.write(2, b"I0000 00:00:1796676338.850445   31472 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.\nhalf a ")
    os.write(2, b"line\n")
    print("from Python", file=sys.stderr)
    if sys.argv[1] == "fail":
        raise ValueError("the block failed")
print("after the block", file=sys.stderr)
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
"""
KEPT = ["first", "half a line", "from Python"]


def run(mode, level=None):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("level", [None, "1", "3"])
def test_loading_notes_dropped_every_other_line_kept_in_order(level):
    proc = run("pass", level)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        *KEPT,
        "after the block",
        # outside the block nothing is filtered
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    ]


def test_a_failing_block_keeps_its_traceback_and_the_lines_before_it():
    proc = run("fail")
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[:3] == KEPT
    assert lines[3] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: the block failed"
    assert "absl" not in proc.stderr and "cuda" not in proc.stderr


def test_log_level_zero_shows_everything():
    proc = run("pass", "0")
    lines = proc.stderr.splitlines()
    assert lines[1].startswith("WARNING: All log messages before absl::InitializeLog()")
    assert "cudart_stub.cc:31] Could not find cuda drivers" in lines[2]
    assert len(lines) == 7
