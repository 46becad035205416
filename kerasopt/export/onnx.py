"""ONNX export through Keras' own `model.export(format="onnx")`.

On the TensorFlow backend Keras converts with tf2onnx (`tf2onnx.convert.from_function`) from
the concrete function of an explicit input signature, which is what tf2onnx needs for Keras 3
models (onnx/tensorflow-onnx#2329); the signature here is "images", float32
(batch, height, width, 3) with every size but the channels dynamic.
"""

from pathlib import Path

from kerasopt._io import atomic_path
from kerasopt._validation import check_int
from kerasopt.export._deps import require, require_tensorflow_backend
from kerasopt.export.layer_support import explain_failure
from kerasopt.export.serving import images_spec, serving_model, write_metadata


def export_onnx(model, path, class_names=None, opset=None):
    """Write `model` as an ONNX file taking raw images of any size, returning probabilities.

    Input "images" (float32 RGB in [0, 255], shape (batch, height, width, 3), dynamic batch,
    height and width); one output, the class probabilities. `PATH.json` beside it records
    class names and input size. Needs the `export` extra (tf2onnx, onnx, onnxruntime).

    Args:
        model: a built Keras image model (see `serving_model`).
        path: the `.onnx` file to write (atomically).
        class_names: None or one name per output class.
        opset: ONNX opset version; None: tf2onnx's default.

    Returns:
        The file's `Path`.

    Example:
        >>> import tempfile, keras, numpy as np, onnxruntime
        >>> from kerasopt.export import export_onnx
        >>> core = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(),
        ...                          keras.layers.Dense(2, activation="softmax")])
        >>> path = export_onnx(core, tempfile.mkdtemp() + "/model.onnx")
        >>> session = onnxruntime.InferenceSession(str(path))
        >>> [(i.name, i.shape[-1]) for i in session.get_inputs()]
        [('images', 3)]
        >>> session.run(None, {"images": np.ones((2, 20, 30, 3), "float32")})[0].shape
        (2, 2)
    """
    require_tensorflow_backend("export_onnx")
    path = Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"Argument `path` must end with '.onnx'. Received: path={str(path)!r}")
    if opset is not None:
        check_int("opset", opset, minimum=7)
    require("tf2onnx", "ONNX export")
    require("onnx", "ONNX export")
    served = serving_model(model)
    with atomic_path(path) as tmp:
        try:
            served.export(
                str(tmp),
                format="onnx",
                input_signature=[images_spec()],
                opset_version=opset,
                verbose=False,
            )
        except Exception as error:  # the converter's message, with the layer named
            raise explain_failure(served, "ONNX", error) from error
        _check_loads(tmp, served)
    write_metadata(path.with_name(path.name + ".json"), model, "onnx", class_names)
    return path


def _check_loads(path, served):
    """tf2onnx may write ops ONNX Runtime rejects (e.g. random ops): fail now, naming the layer."""
    onnxruntime = require("onnxruntime", "ONNX export")
    try:
        onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:
        raise explain_failure(served, "ONNX", error) from error
