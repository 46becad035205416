"""Loading `.keras` files with errors that say what to do.

Source: Keras' serialization guide (custom objects must be registered, here by
`keras.saving.register_keras_serializable(package="kerasopt")` when kerasopt is imported; a
`.keras` file is a zip archive of the config and the weights).
"""

import re
import zipfile
from pathlib import Path

import keras


def load_model(path, **kwargs):
    """`keras.models.load_model(path, **kwargs)`, with one clear message per anticipated failure.

    - no file at `path`: `FileNotFoundError` naming it;
    - a `.keras` file that is not a complete zip archive (truncated, e.g. by a killed writer, or
      not a Keras file): `ValueError` saying so, instead of Keras' "File not found";
    - a model that uses a kerasopt class Keras does not know: `ValueError` naming the class and
      saying to `import kerasopt` before `keras.models.load_model` (importing kerasopt registers
      all its classes), or that this kerasopt version lacks it.

    Args:
        path: the model file (`.keras`, or what `keras.models.load_model` accepts).
        **kwargs: passed to `keras.models.load_model` (e.g. `compile=False`).

    Returns:
        The loaded `keras.Model`.

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: a truncated `.keras` file, or an unknown kerasopt class (see above).

    Example:
        >>> import os, tempfile, keras, kerasopt
        >>> path = os.path.join(tempfile.mkdtemp(), "m.keras")
        >>> keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(path)
        >>> kerasopt.load_model(path).output_shape
        (None, 1)
        >>> _ = open(path, "r+b").truncate(100)
        >>> kerasopt.load_model(path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: '...m.keras' is not a complete .keras file (truncated or not a Keras model)...
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No model file at {str(path)!r}")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ValueError(
            f"{str(path)!r} is not a complete .keras file (truncated or not a Keras model): a .keras file is a "
            "zip archive. Write it again, e.g. re-run the job that saved it."
        )
    try:
        return keras.models.load_model(path, **kwargs)
    except (TypeError, ValueError) as error:
        missing = re.search(r"kerasopt>(\w+)", str(error))
        if missing is None:
            raise
        raise ValueError(
            f"{str(path)!r} uses the kerasopt class {missing.group(1)!r}, which Keras does not know: "
            "`import kerasopt` before `keras.models.load_model` (importing kerasopt registers its classes); "
            "if it is imported, this kerasopt version lacks that class."
        ) from error
