"""TF Serving layout: `NAME/VERSION/saved_model.pb` with a named signature.

TensorFlow Serving watches a model's base folder `NAME/` and serves the highest numeric
`VERSION/` in it; a version appears by an atomic rename (TensorFlow Serving's documentation,
"SavedModel format"). Here the version folder is written under a temporary name and renamed.
"""

from pathlib import Path

from kerasopt._io import atomic_path
from kerasopt._validation import check_int
from kerasopt.export._deps import require_tensorflow_backend
from kerasopt.export.layer_support import explain_failure
from kerasopt.export.serving import (
    PROBABILITIES,
    serving_model,
    write_metadata,
    write_saved_model,
)


def _next_version(base):
    versions = (
        [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
        if base.is_dir()
        else []
    )
    return max(versions, default=0) + 1


def export_saved_model(
    model, base_dir, version=None, class_names=None, signature="serving_default"
):
    """Write `model` as `base_dir/VERSION/` (a SavedModel) for TensorFlow Serving.

    The signature `signature` (also kept as `serve` and, Keras' default, `serving_default`)
    maps "images" (float32 RGB in
    [0, 255], shape (batch, height, width, 3), any size) to {"probabilities": ...}; it is a
    plain TensorFlow graph (`tf.saved_model.load` in a process without Keras' custom objects
    or kerasopt). `assets.extra/kerasopt.json` records class names and input size.

    Args:
        model: a built Keras image model (see `serving_model`), e.g. a fine-tuned classifier or
            a `kerasopt.ensembles.load` ensemble.
        base_dir: the model's base folder (its name is the model name TF Serving serves).
        version: positive int; None: one more than the highest version already there.
        class_names: None or one name per output class.
        signature: the signature's name (TF Serving's default is "serving_default").

    Returns:
        The version folder's `Path`.

    Example:
        >>> import tempfile, keras, numpy as np, tensorflow as tf
        >>> from kerasopt.export import export_saved_model
        >>> core = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(),
        ...                          keras.layers.Dense(2, activation="softmax")])
        >>> folder = export_saved_model(core, tempfile.mkdtemp() + "/classifier")
        >>> folder.name, sorted(tf.saved_model.load(str(folder)).signatures)
        ('1', ['serve', 'serving_default'])
    """
    require_tensorflow_backend("export_saved_model")
    served = serving_model(model)
    base = Path(base_dir)
    if version is None:
        version = _next_version(base)
    check_int("version", version, minimum=1)
    if not signature or not str(signature).isidentifier():
        raise ValueError(
            f"Argument `signature` must be a Python identifier. Received: signature={signature!r}"
        )
    target = base / str(version)
    if target.exists():
        raise FileExistsError(
            f"Argument `version` names a version that already exists: {str(target)!r} (TF Serving may be "
            f"serving it; pass a new version). Received: version={version}"
        )

    names = list(dict.fromkeys([signature, "serve", "serving_default"]))
    with atomic_path(target) as tmp:
        try:
            write_saved_model(served, tmp, names, output=PROBABILITIES)
        except Exception as error:  # the converter's message, with the layer named
            raise explain_failure(served, "SavedModel", error) from error
        write_metadata(
            Path(tmp) / "assets.extra" / "kerasopt.json",
            model,
            "saved_model",
            class_names,
            signature=signature,
        )
    return target
