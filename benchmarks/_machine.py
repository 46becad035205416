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
