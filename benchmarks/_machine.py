"""The machine description every benchmark writes beside its results (one place)."""

import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

from kerasopt._platform import cpuinfo

ROOT = Path(__file__).resolve().parents[1]


def commit():
    """The checked-out commit, with "+uncommitted changes" when tracked files differ from it;
    None outside a git checkout (a copied tree on a borrowed machine)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + (" +uncommitted changes" if dirty else "")


def command():
    """The command line that started this process, as `python -m benchmarks.NAME ARGS`."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        name = spec.name[: -len(".__main__")] if spec.name.endswith(".__main__") else spec.name
        return shlex.join(["python", "-m", name, *sys.argv[1:]])
    return shlex.join(["python", *sys.argv])


def provenance(machine):
    """The Markdown line every result file carries: the commit and command that made it."""
    return f"Made by commit `{machine.get('commit')}` with `{machine.get('command')}`."


def describe(**versions):
    """CPU model, cores, platform, Python/TensorFlow/Keras versions (plus `versions`, e.g.
    scipy=scipy.__version__), the load average when the benchmark started, and the commit and
    command that made the result. TensorFlow is None where it is not installed (a Keras 3
    backend other than TensorFlow)."""
    import keras

    try:
        import tensorflow as tf
    except ImportError:
        tf = None
    return {
        "cpu": cpuinfo("model name"),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__ if tf is not None else None,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        **versions,
        "load_average_at_start": os.getloadavg(),
        "commit": commit(),
        "command": command(),
    }


def load_note(machine):
    """One sentence on the machine's load: the 1-minute load average at the start (from
    `describe`) and now, and whether it reached the core count (timings under contention)."""
    start, end, cores = machine["load_average_at_start"][0], os.getloadavg()[0], machine["cores"]
    state = (
        "machine busy: timings are noisy"
        if max(start, end) >= 0.75 * cores
        else "quiet machine: the load is about the benchmark's own"
    )
    return f"1-minute load average {start:.1f} at the start, {end:.1f} at the end on {cores} cores ({state})."
