"""The machine description every benchmark writes beside its results (one place)."""

import os
import platform
from pathlib import Path


def cpuinfo(key):
    """The first `key : value` field of /proc/cpuinfo, or "unknown" where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def describe(**versions):
    """CPU model, cores, platform, Python/TensorFlow/Keras versions (plus `versions`, e.g.
    scipy=scipy.__version__) and the load average when the benchmark started."""
    import keras
    import tensorflow as tf

    return {
        "cpu": cpuinfo("model name"),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        **versions,
        "load_average_at_start": os.getloadavg(),
    }
