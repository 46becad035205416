"""The one serving graph every export format is made from: raw images in, probabilities out.

The course's fine-tuned classifiers (`kerasopt.transfer.build_classifier`) and their snapshot
ensembles (`kerasopt.ensembles.load`) already take raw float32 RGB images of any size and
resize them inside. `serving_model` gives any single-input image model that contract: a fixed
input size gets a bilinear resize in front, and the model is called in inference mode, so
training-only layers (Dropout, DropConnect, StochasticDepth, the augmentation layers) export
their inference form. The export formats also write a small JSON file of metadata (class
names, input size) that `kerasopt.export.load_predictor` reads back.
"""

import json
from pathlib import Path

import keras

from kerasopt._io import write_json
from kerasopt.export._deps import require_tensorflow_backend
from kerasopt.layers import InferenceMode

IMAGES = "images"
PROBABILITIES = "probabilities"
METADATA = "kerasopt.json"


def images_spec():
    """The serving input: float32 RGB images in [0, 255], shape (batch, height, width, 3)."""
    import tensorflow as tf

    return tf.TensorSpec((None, None, None, 3), tf.float32, name=IMAGES)


def _check_image_model(model):
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"Argument `model` must be a keras.Model. Received: model={type(model).__name__}"
        )
    if not model.built or len(model.inputs or []) != 1 or len(model.outputs or []) != 1:
        raise ValueError(
            "Argument `model` must be a built model with one input and one output (a Functional or "
            f"Sequential model). Received: model={model.name!r}"
        )
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(
            "Argument `model` must take RGB images of shape (batch, height, width, 3). "
            f"Received: model with input shape {shape}"
        )
    return shape


def image_size(model):
    """(height, width) the model sees: its fixed input size, else the size of its first
    `Resizing` layer (a `build_classifier` model), else None."""
    shape = _check_image_model(model)
    if None not in shape[1:3]:
        return tuple(shape[1:3])
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Resizing):
            return (layer.height, layer.width)
    return None


def serving_model(model):
    """A Functional model taking raw images of any size and calling `model` in inference mode.

    When `model` has a fixed input size, a bilinear `Resizing` to it comes first (a model
    with a dynamic input, like a `build_classifier` model, resizes inside and gets none). The
    model runs under `kerasopt.layers.InferenceMode`: training-only layers reduce to their
    inference form in every exported graph, whatever mode the exporter traces in.

    Args:
        model: a built Keras model with one input of shape (batch, height, width, 3) and one
            output (class probabilities).

    Returns:
        A `keras.Model` with input "images" (float32, shape (batch, None, None, 3)).

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.export import serving_model
        >>> core = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(),
        ...                          keras.layers.Dense(2, activation="softmax")])
        >>> served = serving_model(core)
        >>> served.input_shape, served.predict(np.ones((1, 30, 20, 3), "float32"), verbose=0).shape
        ((None, None, None, 3), (1, 2))
    """
    require_tensorflow_backend("serving_model")
    shape = _check_image_model(model)
    images = keras.Input((None, None, 3), dtype="float32", name=IMAGES)
    x = images
    if None not in shape[1:3]:
        x = keras.layers.Resizing(shape[1], shape[2], name="serving_resize")(x)
    outputs = InferenceMode(model, name="inference")(x)
    return keras.Model(images, outputs, name=f"{model.name}_serving")


def metadata_path(path):
    """Where the metadata of an export lives: `assets.extra/kerasopt.json` inside a SavedModel
    folder, `FILE.json` beside an ONNX or LiteRT file."""
    path = Path(path)
    return (
        path / "assets.extra" / METADATA if path.is_dir() else path.with_name(path.name + ".json")
    )


def write_metadata(path, model, fmt, class_names, **extra):
    """Write the export's metadata (format, input/output names, class names, input size)."""
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        n_classes = model.outputs[0].shape[-1]
        if len(class_names) != n_classes:
            raise ValueError(
                f"Argument `class_names` must have one name per output ({n_classes}). "
                f"Received: class_names of length {len(class_names)}"
            )
    size = image_size(model)
    write_json(
        path,
        {
            "format": fmt,
            "input": f"{IMAGES}: float32 RGB in [0, 255], shape (batch, height, width, 3), any size",
            "output": f"{PROBABILITIES}: float32 class probabilities, shape (batch, classes)",
            "class_names": class_names,
            "image_size": list(size) if size else None,
            **extra,
        },
    )


def read_metadata(path):
    """The metadata dict of an export (empty when there is none)."""
    meta = metadata_path(path)
    return json.loads(meta.read_text()) if meta.is_file() else {}


def write_saved_model(model, path, signatures=("serve", "serving_default"), output=None):
    """Write `model`'s inference call as a TensorFlow SavedModel in the new folder `path`.

    Each name in `signatures` maps the model's input (its Keras input shape, any batch size)
    to its output: a dict `{output: ...}` when `output` is given, else TensorFlow's default
    name `output_0`. The module saved holds the traced call and the model's variables and
    nothing of Keras, so `tf.saved_model.load` serves it without Keras or kerasopt; the call
    is also kept as the attribute `serve`. The call is traced once; Keras' `Model.export`
    (the same graph) also walks every layer to track its resources, which takes longer.

    Source: TensorFlow's SavedModel guide ("Exporting custom models": a `tf.Module` with a
    `tf.function` of fixed input signature); the signature names follow TF Serving
    ("serving_default") and Keras ("serve").

    Example:
        >>> import tempfile, keras, numpy as np, tensorflow as tf
        >>> from kerasopt.export.serving import write_saved_model
        >>> core = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_initializer="ones")])
        >>> folder = tempfile.mkdtemp() + "/model"
        >>> loaded = tf.saved_model.load(write_saved_model(core, folder, output="scores"))
        >>> sorted(loaded.signatures), loaded.serve(tf.ones((1, 3)))["scores"].numpy().tolist()
        (['serve', 'serving_default'], [[3.0, 3.0]])
    """
    require_tensorflow_backend("write_saved_model")
    import tensorflow as tf

    if not isinstance(model, keras.Model) or len(model.inputs) != 1:
        raise TypeError(
            "Argument `model` must be a built keras.Model with one input. "
            f"Received: model={type(model).__name__}"
        )
    names = [signatures] if isinstance(signatures, str) else list(signatures)
    if not names or not all(isinstance(n, str) and n.isidentifier() for n in names):
        raise ValueError(
            "Argument `signatures` must be one or more Python identifiers. "
            f"Received: signatures={signatures!r}"
        )
    tensor = model.inputs[0]
    name = tensor.name if str(tensor.name).isidentifier() else "inputs"
    spec = tf.TensorSpec((None, *tensor.shape[1:]), tensor.dtype, name=name)

    @tf.function(input_signature=[spec])
    def serve(inputs):
        result = model(inputs, training=False)
        return result if output is None else {output: result}

    module = tf.Module()
    module.model_variables = list(model.variables)
    module.serve = serve
    concrete = serve.get_concrete_function()
    tf.saved_model.save(module, str(path), signatures=dict.fromkeys(names, concrete))
    return str(path)
