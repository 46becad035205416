"""The machine description every benchmark writes beside its results (one place)."""

import os
import platform

from kerasopt._platform import cpuinfo


def describe(**versions):
    """CPU model, cores, platform, Python/TensorFlow/Keras versions (plus `versions`, e.g.
    scipy=scipy.__version__) and the load average when the benchmark started. TensorFlow is
    None where it is not installed (a Keras 3 backend other than TensorFlow)."""
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
