"""Registry of ImageNet backbones from `keras.applications`.

Source: the course's transfer-learning section (take a network trained on ImageNet, remove its
last classification layer, reuse the rest); Yosinski et al., "How transferable are features in
deep neural networks?", NeurIPS 2014. Each entry names the `keras.applications` constructor,
the input size its ImageNet weights were trained at, and its `preprocess_input`.

Offline use: `weights="imagenet"` reads Keras' cache (`$KERAS_HOME/models`, default
`~/.keras/models`) before trying to download. When the file is neither cached nor
downloadable, `backbone` raises `WeightsUnavailableError` saying how to supply the weights,
instead of a network stack trace.
"""

import dataclasses
import os
import warnings

import keras

from kerasopt._validation import check_choice, check_int


class WeightsUnavailableError(RuntimeError):
    """ImageNet weights are neither in the Keras cache nor downloadable.

    Example:
        >>> from kerasopt.transfer import WeightsUnavailableError
        >>> issubclass(WeightsUnavailableError, RuntimeError)  # raised by `backbone` offline, with a message
        True
    """


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """One registry entry.

    name: registry key. constructor: attribute of `keras.applications`. module: the
    `keras.applications` submodule holding `preprocess_input`. image_size: the input size of
    the ImageNet weights. preprocessing: what `preprocess_input` does to raw [0, 255] RGB,
    as a `kerasopt.transfer.ImagenetPreprocessing` mode ("tf": scale to [-1, 1]; "caffe":
    RGB->BGR and ImageNet mean subtraction; "none": the model rescales inside itself).

    Example:
        >>> from kerasopt.transfer import BACKBONES
        >>> spec = BACKBONES["mobilenet_v2"]
        >>> spec.constructor, spec.image_size, spec.preprocessing
        ('MobileNetV2', 224, 'tf')
    """

    name: str
    constructor: str
    module: str
    image_size: int
    preprocessing: str

    def build_fn(self):
        """The `keras.applications` constructor."""
        return getattr(keras.applications, self.constructor)

    @property
    def preprocess_input(self):
        """The `keras.applications.<module>.preprocess_input` function."""
        return getattr(keras.applications, self.module).preprocess_input


_ENTRIES = [
    ("mobilenet", "MobileNet", "mobilenet", 224, "tf"),
    ("mobilenet_v2", "MobileNetV2", "mobilenet_v2", 224, "tf"),
    ("mobilenet_v3_small", "MobileNetV3Small", "mobilenet_v3", 224, "none"),
    ("mobilenet_v3_large", "MobileNetV3Large", "mobilenet_v3", 224, "none"),
    ("efficientnet_b0", "EfficientNetB0", "efficientnet", 224, "none"),
    ("efficientnet_b1", "EfficientNetB1", "efficientnet", 240, "none"),
    ("efficientnet_b2", "EfficientNetB2", "efficientnet", 260, "none"),
    ("efficientnet_b3", "EfficientNetB3", "efficientnet", 300, "none"),
    ("efficientnet_v2_b0", "EfficientNetV2B0", "efficientnet_v2", 224, "none"),
    ("efficientnet_v2_b1", "EfficientNetV2B1", "efficientnet_v2", 240, "none"),
    ("efficientnet_v2_b2", "EfficientNetV2B2", "efficientnet_v2", 260, "none"),
    ("efficientnet_v2_b3", "EfficientNetV2B3", "efficientnet_v2", 300, "none"),
    ("efficientnet_v2_s", "EfficientNetV2S", "efficientnet_v2", 384, "none"),
    ("resnet50", "ResNet50", "resnet50", 224, "caffe"),
    ("resnet50_v2", "ResNet50V2", "resnet_v2", 224, "tf"),
    ("convnext_tiny", "ConvNeXtTiny", "convnext", 224, "none"),
    ("xception", "Xception", "xception", 299, "tf"),
    ("vgg16", "VGG16", "vgg16", 224, "caffe"),
]
BACKBONES = {entry[0]: BackboneSpec(*entry) for entry in _ENTRIES}


def get_spec(name):
    """The `BackboneSpec` registered under `name`.

    Example:
        >>> from kerasopt.transfer import get_spec
        >>> get_spec("resnet50").preprocessing
        'caffe'
        >>> get_spec("alexnet")
        Traceback (most recent call last):
        ...
        ValueError: Argument `name` must be one of ...
    """
    check_choice("name", name, tuple(BACKBONES))
    return BACKBONES[name]


def _check_weights(weights):
    if weights is None or weights == "imagenet":
        return weights
    if isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights):
        return os.fspath(weights)
    raise ValueError(
        "Argument `weights` must be 'imagenet', None or the path of an existing weights file. "
        f"Received: weights={weights!r}"
    )


def backbone(name, weights="imagenet", input_shape=None, alpha=None):
    """A headless `keras.applications` model (`include_top=False`, no pooling).

    Args:
        name: a key of `BACKBONES`, e.g. "mobilenet_v2".
        weights: "imagenet" (Keras cache, else download), None (random initialization) or the
            path of a weights file for the headless model (e.g. a Keras cache `.h5`).
        input_shape: (height, width, 3); default: the spec's `image_size`, square.
        alpha: width multiplier, only for the MobileNet family (None: the constructor's default).

    Raises:
        WeightsUnavailableError: `weights="imagenet"` but the file is not cached and cannot be
            downloaded. The message says how to supply it.

    Example:
        >>> from kerasopt.transfer import backbone
        >>> model = backbone("mobilenet", weights=None, input_shape=(32, 32, 3), alpha=0.25)
        >>> model.output_shape  # headless: the last feature map, no pooling
        (None, 1, 1, 256)

    References:
        Yosinski et al., "How transferable are features in deep neural networks?", NeurIPS 2014.
    """
    spec = get_spec(name)
    weights = _check_weights(weights)
    if input_shape is None:
        input_shape = (spec.image_size, spec.image_size, 3)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3 or input_shape[2] != 3:
        raise ValueError(
            "Argument `input_shape` must be (height, width, 3). "
            f"Received: input_shape={input_shape!r}"
        )
    for size in input_shape[:2]:
        check_int("input_shape", size, minimum=32)
    kwargs = {"include_top": False, "weights": weights, "input_shape": tuple(input_shape)}
    if alpha is not None:
        if not spec.name.startswith("mobilenet"):
            raise ValueError(
                f"Argument `alpha` applies only to the MobileNet family. Received: alpha={alpha!r} "
                f"for name={name!r}"
            )
        kwargs["alpha"] = alpha
    try:
        with warnings.catch_warnings():
            if weights != "imagenet":  # only the ImageNet files depend on the input size
                warnings.filterwarnings(
                    "ignore", message=".*input_shape.*is undefined or non-square"
                )
            return spec.build_fn()(**kwargs)
    except Exception as error:  # Keras' get_file raises a bare Exception on a failed download.
        if weights != "imagenet" or "URL fetch failure" not in str(error):
            raise
        home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
        raise WeightsUnavailableError(
            f"ImageNet weights for backbone {name!r} are not in the Keras cache "
            f"({os.path.join(home, 'models')}) and could not be downloaded ({error}). "
            "Supply them in one of two ways: pass a weights file with `--weights PATH` "
            "(library: `weights=PATH`), or point the KERAS_HOME environment variable at a Keras "
            "cache whose models/ folder holds the file (for example a copy of "
            "../shared/assets/keras_home), before Keras is imported."
        ) from None
