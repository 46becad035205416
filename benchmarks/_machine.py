"""The machine description every benchmark writes beside its results (one place)."""

import os
import platform

from kerasopt._platform import cpuinfo


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
