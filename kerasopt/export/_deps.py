"""Optional dependencies of the export formats: one error, naming the extra that installs them;
and the one error every export entry point raises on a backend other than TensorFlow."""

import importlib

from kerasopt._backend import require_tensorflow

EXTRA = "pip install kerasopt[export]"


def require(module, purpose):
    """Import and return `module`; if it is missing, raise ImportError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{purpose} needs the `{module}` package, which is not installed: {EXTRA}"
        ) from error


# The SavedModel, ONNX and LiteRT converters trace the model as a TensorFlow graph.
ALTERNATIVE = (
    "model.save(PATH.keras) (a .keras file loads on every backend), or Keras' own "
    "model.export(PATH, format='tf_saved_model') with TensorFlow installed"
)


def require_tensorflow_backend(what, alternative=ALTERNATIVE):
    """Raise `kerasopt._backend.BackendError` naming `what` unless Keras runs on TensorFlow."""
    require_tensorflow(f"kerasopt.export.{what}", alternative)
