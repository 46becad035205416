"""Run an exported model, or a run folder, with the runtime its format needs.

`load_predictor(path)` recognizes: a fine-tune run folder (`model.keras`, or its `ensemble/`
subfolder) or a `.keras` file (Keras), a SavedModel folder (TensorFlow, no kerasopt needed), an `.onnx` file
(ONNX Runtime) and a `.tflite` file (the LiteRT interpreter). Every predictor maps a float32
batch of RGB images in [0, 255] to class probabilities.
"""

import json
from pathlib import Path

import numpy as np

from kerasopt._validation import check_int
from kerasopt.export._deps import require
from kerasopt.export.serving import PROBABILITIES, read_metadata


class Predictor:
    """A loaded model: `predictor(images)` -> probabilities, with its class names and input size.

    Attributes:
        format: "keras", "saved_model", "onnx" or "litert".
        class_names: list of names, or None when the export recorded none.
        image_size: (height, width) the model resizes to, or None when unknown.

    Example:
        >>> import numpy as np
        >>> from kerasopt.export import Predictor
        >>> p = Predictor(lambda x: np.full((len(x), 2), 0.5, "float32"), "keras", ["a", "b"], (8, 8))
        >>> p(np.zeros((3, 8, 8, 3), "float32")).shape, p.class_names
        ((3, 2), ['a', 'b'])
    """

    def __init__(self, fn, format, class_names=None, image_size=None):
        self._fn, self.format = fn, format
        self.class_names = list(class_names) if class_names is not None else None
        self.image_size = tuple(image_size) if image_size else None

    def __call__(self, images):
        return np.asarray(self._fn(np.asarray(images, dtype="float32")), dtype="float32")


def load_run(path, ensemble=False):
    """(model, class_names) of a fine-tune run folder, its ensemble, or a `.keras` file.

    Args:
        path: a run folder (`model.keras`, `class_names.json`), or a `.keras` file (class names
            from a `class_names.json` beside it, else None).
        ensemble: for a run folder: its snapshot ensemble, `RUN/ensemble/`.

    Returns:
        The Keras model (`kerasopt.load_model`, not compiled) and the list of class names or
        None.

    Raises:
        ValueError: there is no such model, or the file is truncated; the message names it.

    Example:
        >>> import tempfile, keras
        >>> from pathlib import Path
        >>> from kerasopt.export import load_run
        >>> run = Path(tempfile.mkdtemp())
        >>> keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)]).save(run / "model.keras")
        >>> model, names = load_run(run)
        >>> model.output_shape, names
        ((None, 2), None)
    """
    from kerasopt.saving import load_model

    path = Path(path)
    if path.is_dir():
        path = (path / "ensemble" if ensemble else path) / "model.keras"
    if path.suffix != ".keras" or not path.is_file():
        raise ValueError(
            "Argument `path` must be a run folder holding model.keras (and ensemble/model.keras for "
            f"ensemble=True) or a .keras file. Received: path={str(path)!r} (not found)"
        )
    names_file = path.with_name("class_names.json")
    names = json.loads(names_file.read_text()) if names_file.is_file() else None
    return load_model(path, compile=False), names


def _keras_predictor(path, ensemble):
    from kerasopt.export.serving import image_size

    model, names = load_run(path, ensemble)
    return Predictor(lambda x: model.predict_on_batch(x), "keras", names, image_size(model))


def _saved_model_predictor(folder, meta):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(folder))
    name = meta.get("signature", "serving_default")
    signature = loaded.signatures[name]

    input_name = next(iter(signature.structured_input_signature[1]))

    def run(x):
        out = signature(**{input_name: tf.constant(x)})
        return (out[PROBABILITIES] if PROBABILITIES in out else next(iter(out.values()))).numpy()

    return Predictor(run, "saved_model", meta.get("class_names"), meta.get("image_size"))


def _onnx_predictor(path, meta, threads):
    onnxruntime = require("onnxruntime", "Running an ONNX model")
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return Predictor(
        lambda x: session.run(None, {name: x})[0],
        "onnx",
        meta.get("class_names"),
        meta.get("image_size"),
    )


def _litert_predictor(path, meta, threads):
    interpreter_module = require("ai_edge_litert.interpreter", "Running a LiteRT model")
    interpreter = interpreter_module.Interpreter(model_path=str(path), num_threads=threads)
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]
    shape = [None]

    def run(x):
        if shape[0] != x.shape:
            interpreter.resize_tensor_input(source, x.shape)
            interpreter.allocate_tensors()
            shape[0] = x.shape
        interpreter.set_tensor(source, x)
        interpreter.invoke()
        return interpreter.get_tensor(target).copy()

    return Predictor(run, "litert", meta.get("class_names"), meta.get("image_size"))


def load_predictor(path, ensemble=False, threads=None):
    """A `Predictor` for a run folder, a `.keras` file, a SavedModel, an `.onnx` or `.tflite` file.

    Args:
        path: what to load (see the module docstring).
        ensemble: for a run folder: use its snapshot ensemble (`RUN/ensemble/`).
        threads: None (the runtime's default) or the number of CPU threads ONNX Runtime or the
            LiteRT interpreter may use (Keras and SavedModels use TensorFlow's setting).

    Returns:
        A `Predictor`.

    Raises:
        ValueError: `path` is none of these (the message says what was expected).

    Example:
        >>> import tempfile, keras, numpy as np
        >>> from kerasopt.export import export_onnx, load_predictor
        >>> core = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(),
        ...                          keras.layers.Dense(2, activation="softmax")])
        >>> predictor = load_predictor(export_onnx(core, tempfile.mkdtemp() + "/m.onnx", class_names=["a", "b"]))
        >>> predictor.format, predictor.class_names, predictor.image_size
        ('onnx', ['a', 'b'], (8, 8))
    """
    if threads is not None:
        check_int("threads", threads, minimum=1)
    path = Path(path)
    if (path.is_dir() and (path / "model.keras").is_file()) or path.suffix == ".keras":
        return _keras_predictor(path, ensemble)
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return _saved_model_predictor(path, read_metadata(path))
    if path.is_file() and path.suffix == ".onnx":
        return _onnx_predictor(path, read_metadata(path), threads)
    if path.is_file() and path.suffix == ".tflite":
        return _litert_predictor(path, read_metadata(path), threads)
    raise ValueError(
        "Argument `path` must be a run folder (model.keras), a .keras file, a SavedModel folder "
        f"(saved_model.pb), an .onnx or a .tflite file. Received: path={str(path)!r}"
    )
