"""Which kerasopt layers export to which format, and the error when a conversion fails.

Every export calls the model in inference mode (`serving_model`), so the table below is
about each layer's inference graph. It is checked layer by layer in
tests/export/test_layer_support.py (ONNX Runtime and the LiteRT interpreter, float outputs
within 1e-4 of Keras').
"""

import re


class ExportError(RuntimeError):
    """A model could not be converted; the message names the layer and what to do.

    Example:
        >>> from kerasopt.export import ExportError
        >>> issubclass(ExportError, RuntimeError)
        True
    """


# class name -> (what the export contains, what to do when a conversion fails)
LAYER_SUPPORT = {
    "DropConnectDense": (
        "the plain Dense layer (no weights dropped)",
        "nothing: inference is deterministic",
    ),
    "DropConnectConv2D": (
        "the plain Conv2D layer (no weights dropped)",
        "nothing: inference is deterministic",
    ),
    "StochasticDepth": (
        "shortcut + branch (every branch kept)",
        "nothing: inference is deterministic",
    ),
    "FractionalMaxPooling2D": (
        "max pooling over the fixed middle-phase regions",
        "give it a static spatial size (a Resizing or a fixed Input before it)",
    ),
    "FlipRotateZoom": (
        "a cast of the images to the compute dtype (no augmentation at inference)",
        "nothing: inference is deterministic",
    ),
    "RandomResizedCrop": (
        "the centre crop resized to (height, width)",
        "nothing: inference is deterministic",
    ),
    "PCAColorAugmentation": (
        "the identity",
        "remove it from the serving model if the converter rejects it",
    ),
    "TestTimeAugmentation": (
        "all its views (crops/flips) and their mean, in one batch",
        "give it a static input size: the crops are static slices",
    ),
    "MemberAverage": ("the mean over the ensemble members", "nothing: inference is deterministic"),
    "InferenceMode": ("the wrapped layer in inference mode", "nothing"),
    "ImagenetPreprocessing": ("the fixed scaling / channel means", "nothing"),
}


def _layers(model):
    return model._flatten_layers(include_self=False, recursive=True)


def _failing_layer(model, message):
    """The innermost layer of `model` named in an op path of `message` ("a/b_1/Op"); Keras
    appends "_N" to a layer's name scope, so "b_1" names layer "b"."""
    layers = {layer.name: layer for layer in _layers(model)}
    for path in re.findall(r"[\w.-]+(?:/[\w.-]+)+", message):
        named = [layers.get(s) or layers.get(re.sub(r"_\d+$", "", s)) for s in path.split("/")]
        named = [layer for layer in named if layer is not None]
        if named:
            return named[-1]
    return None


def explain_failure(model, fmt, error):
    """An `ExportError` for `error`, raised converting `model` to `fmt`: it names the innermost
    layer found in the converter's op names, with the table's advice."""
    message = str(error)
    first_line = message.strip().splitlines()[0][:300] if message.strip() else type(error).__name__
    layer = _failing_layer(model, message)
    if layer is None:
        return ExportError(f"{fmt} export failed: {first_line}")
    kind = type(layer).__name__
    advice = LAYER_SUPPORT.get(kind, (None, None))[1] or (
        "replace it with Keras/TensorFlow ops the converter supports, or export to another format"
    )
    return ExportError(
        f"{fmt} export failed in layer {layer.name!r} ({kind}): {first_line}. What to do: {advice}."
    )


def support_table():
    """Markdown table of `LAYER_SUPPORT` (layer, exported form, what to do on failure).

    Example:
        >>> from kerasopt.export import support_table
        >>> print(support_table().splitlines()[0])
        | layer | exported as (ONNX and LiteRT) | if a conversion fails |
    """
    rows = ["| layer | exported as (ONNX and LiteRT) | if a conversion fails |", "|---|---|---|"]
    rows += [f"| `{name}` | {form} | {advice} |" for name, (form, advice) in LAYER_SUPPORT.items()]
    return "\n".join(rows)
