"""The machine description every benchmark writes beside its results (one place)."""

import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

from kerasopt._platform import cpuinfo

ROOT = Path(__file__).resolve().parents[1]
_CPU_AT_START = None  # `cpu_times()` when `describe` was called


def cpu_times():
    """User-mode CPU seconds since boot from /proc/stat, split by priority: `normal` (processes
    at nice <= 0) and `niced` (nice > 0), with this process's own user-mode CPU seconds (itself
    and the children it has waited for) and a monotonic clock reading. Kernel time is left out:
    /proc/stat does not split it by priority. None where /proc/stat is absent (not Linux)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:3]]
    except OSError:
        return None
    user, nice = fields[:2]
    hz = os.sysconf("SC_CLK_TCK")
    own = sum(
        resource.getrusage(who).ru_utime for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return {
        "clock": time.monotonic(),
        "normal": user / hz,
        "niced": nice / hz,
        "own": own,
    }


def other_load(start, end):
    """Cores' worth of user-mode CPU that processes other than this benchmark took between two
    `cpu_times()` readings: (at normal priority, at nice > 0). A benchmark runs at nice 0; with
    the kernel's autogroup scheduling off, a nice-19 process gets about 1.5% of a core that a
    nice-0 process wants, so only the normal-priority share competes with the benchmark."""
    wall = max(end["clock"] - start["clock"], 1e-9)
    normal = max(0.0, (end["normal"] - start["normal"]) - (end["own"] - start["own"]))
    return normal / wall, (end["niced"] - start["niced"]) / wall


def _autogroup():
    """The kernel's autogroup scheduling switch (under it, nice only ranks processes of one
    session, so niced jobs of other sessions still compete); None where unknown."""
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return None


def commit():
    """The checked-out commit, with "+uncommitted changes" when tracked files other than
    benchmarks/results/ (the outputs, not the code) differ from it; None outside a git checkout (a copied tree on a borrowed machine)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":!benchmarks/results",
            ],
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

    global _CPU_AT_START
    _CPU_AT_START = cpu_times()
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
    `describe`) and now, and whether other work competed with the benchmark. Where /proc/stat
    tells it, the judgement reads the CPU that other processes took at normal priority during
    the run (niced work is counted and named, but it yields to the benchmark when autogroup
    scheduling is off); elsewhere, whether the load average reached the core count."""
    start, end, cores = machine["load_average_at_start"][0], os.getloadavg()[0], machine["cores"]
    text = f"1-minute load average {start:.1f} at the start, {end:.1f} at the end on {cores} cores"
    now = cpu_times()
    if _CPU_AT_START is None or now is None:
        busy = max(start, end) >= 0.75 * cores
        detail = ""
    else:
        normal, niced = other_load(_CPU_AT_START, now)
        yields = niced > 0.05 and _autogroup() is False
        busy = normal >= 0.1 or (niced > 0.05 and not yields)
        detail = (
            f"; other processes took {normal:.2f} cores at normal priority and {niced:.2f} at "
            f"nice > 0{' (autogroup scheduling off: niced work yields to the benchmark)' if yields else ''}"
        )
    state = (
        "machine busy: timings are noisy"
        if busy
        else "quiet machine: no other work at the benchmark's priority"
    )
    return f"{text}{detail} ({state})."


def write_result(out, name, result, markdown):
    """Publish a benchmark's result: `out`/NAME.json and `out`/NAME.md (atomically, the folder
    made if needed), and print the Markdown."""
    from kerasopt._io import write_json, write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{name}.json", result)
    write_text(out / f"{name}.md", markdown)
    print(markdown)
