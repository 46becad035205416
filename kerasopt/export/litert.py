"""LiteRT (TensorFlow Lite) export through Keras' own `model.export(format="litert")`, in
float32 or with dynamic-range quantization (weights stored as int8, activations float:
TensorFlow Lite's "post-training dynamic range quantization")."""

from pathlib import Path

from kerasopt._io import atomic_path
from kerasopt._validation import check_choice
from kerasopt.export._deps import require_tensorflow_backend
from kerasopt.export.layer_support import explain_failure
from kerasopt.export.serving import images_spec, serving_model, write_metadata

QUANTIZE = (None, "dynamic")


def export_litert(model, path, quantize=None, class_names=None):
    """Write `model` as a LiteRT flatbuffer taking raw images of any size.

    The input keeps a dynamic (batch, height, width, 3) shape signature: resize the
    interpreter's input tensor to each batch's shape (`resize_tensor_input`) before
    `allocate_tensors`. `PATH.json` beside it records class names, input size and the
    quantization. The LiteRT interpreter (`ai_edge_litert`) is in the `export` extra.

    Args:
        model: a built Keras image model (see `serving_model`).
        path: the `.tflite` file to write (atomically).
        quantize: None (float32) or "dynamic" (dynamic-range int8 weights).
        class_names: None or one name per output class.

    Returns:
        The file's `Path`.

    Example:
        >>> import tempfile, keras, numpy as np
        >>> from ai_edge_litert.interpreter import Interpreter
        >>> from kerasopt.export import export_litert
        >>> core = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(),
        ...                          keras.layers.Dense(2, activation="softmax")])
        >>> path = export_litert(core, tempfile.mkdtemp() + "/model.tflite")
        >>> interpreter = Interpreter(model_path=str(path))
        >>> interpreter.get_input_details()[0]["shape_signature"].tolist()
        [-1, -1, -1, 3]
    """
    require_tensorflow_backend("export_litert")
    path = Path(path)
    if path.suffix != ".tflite":
        raise ValueError(f"Argument `path` must end with '.tflite'. Received: path={str(path)!r}")
    check_choice("quantize", quantize, QUANTIZE)
    import tensorflow as tf

    served = serving_model(model)
    options = {"optimizations": [tf.lite.Optimize.DEFAULT]} if quantize == "dynamic" else {}
    with atomic_path(path) as tmp:
        try:
            served.export(
                str(tmp), format="litert", input_signature=[images_spec()], verbose=False, **options
            )
        except Exception as error:  # the converter's message, with the layer named
            raise explain_failure(served, "LiteRT", error) from error
    write_metadata(
        path.with_name(path.name + ".json"), model, "litert", class_names, quantize=quantize
    )
    return path
