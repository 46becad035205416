"""Optional dependencies of the export formats: one error, naming the extra that installs them."""

import importlib

EXTRA = "pip install kerasopt[export]"


def require(module, purpose):
    """Import and return `module`; if it is missing, raise ImportError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{purpose} needs the `{module}` package, which is not installed: {EXTRA}"
        ) from error
