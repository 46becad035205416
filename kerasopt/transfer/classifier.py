"""A classifier on a pretrained backbone: raw images in, class probabilities out.

Source: the course's transfer-learning section (remove the ImageNet classification layer and
train a new head on the reused network); the head is global average pooling, dropout and a
softmax layer (Lin et al., "Network in Network", 2014, for the pooling; Srivastava et al.,
2014, for dropout). The backbone is always called with `training=False` (`InferenceMode`), so its BatchNormalization
layers normalize with their ImageNet moving statistics in both phases and never update them,
as in Keras' own transfer-learning guide (Chollet, "Transfer learning & fine-tuning").
"""

import keras
from keras import ops

from kerasopt._validation import check_choice, check_int, check_range
from kerasopt.layers.inference_mode import InferenceMode

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="kerasopt")
class ImagenetPreprocessing(keras.layers.Layer):
    """`keras.applications` `preprocess_input` as a serializable layer, for RGB in [0, 255].

    Source: `keras.applications.imagenet_utils.preprocess_input` (Keras' documented modes).
    mode "tf": x / 127.5 - 1 (MobileNet, MobileNetV2, ResNetV2, Xception). mode "caffe": RGB ->
    BGR, then minus the ImageNet channel means (ResNet50, VGG16). mode "none": identity (the
    EfficientNet, MobileNetV3 and ConvNeXt models rescale inside themselves).

    Example:
        >>> import numpy as np
        >>> from kerasopt.transfer import ImagenetPreprocessing
        >>> np.asarray(ImagenetPreprocessing("tf")(np.array([[0.0, 127.5, 255.0]]))).tolist()
        [[-1.0, 0.0, 1.0]]
        >>> np.round(np.asarray(ImagenetPreprocessing("caffe")(np.zeros((1, 3))), "float64"), 3).tolist()  # BGR minus means
        [[-103.939, -116.779, -123.68]]
    """

    MODES = ("tf", "caffe", "none")

    def __init__(self, mode="tf", **kwargs):
        super().__init__(**kwargs)
        self.mode = check_choice("mode", mode, self.MODES)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "caffe":
            return ops.flip(x, axis=-1) - ops.convert_to_tensor(_CAFFE_MEAN_BGR, self.compute_dtype)
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def build_classifier(
    backbone, n_classes, dropout=0.2, preprocessing="tf", inference_backbone=True, name="classifier"
):
    """`keras.Model`: raw RGB images (any size, values in [0, 255]) -> class probabilities.

    Layers: resize to the backbone's input size, `ImagenetPreprocessing(preprocessing)`,
    the backbone called with `training=False` (through `InferenceMode`, layer "backbone"; the
    backbone object itself is shared, so freezing it acts on the model), global average
    pooling, dropout, a Dense softmax head in float32 (so the output stays float32 under a
    `mixed_float16` policy).

    Args:
        backbone: a headless image model with a fixed (height, width, 3) input, e.g. from
            `kerasopt.transfer.backbone`.
        n_classes: number of classes (>= 2).
        dropout: dropout rate before the head, in [0, 1).
        preprocessing: an `ImagenetPreprocessing` mode; `BackboneSpec.preprocessing` gives the
            right one for a registry entry.
        inference_backbone: True (transfer learning): the backbone always runs in inference mode.
            False (training from random initialization): the backbone is called directly, so
            its BatchNormalization layers use batch statistics while training.
        name: the model's name.

    Example:
        >>> import keras, numpy as np
        >>> base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="conv"),
        ...                          keras.layers.BatchNormalization(name="bn")], name="base")
        >>> from kerasopt.transfer import build_classifier
        >>> model = build_classifier(base, n_classes=3)
        >>> probs = model.predict(np.zeros((2, 20, 30, 3), "float32"), verbose=0)  # any image size
        >>> probs.shape, bool(np.allclose(probs.sum(axis=1), 1.0))
        ((2, 3), True)
    """
    check_int("n_classes", n_classes, minimum=2)
    check_range("dropout", dropout, 0, 1, high_inclusive=False)
    check_choice("preprocessing", preprocessing, ImagenetPreprocessing.MODES)
    shape = tuple(backbone.input_shape[1:])
    if len(shape) != 3 or None in shape:
        raise ValueError(
            "Argument `backbone` must take a fixed (height, width, channels) input. "
            f"Received: backbone with input_shape={backbone.input_shape}"
        )
    images = keras.Input(shape=(None, None, shape[2]), name="images")
    x = keras.layers.Resizing(shape[0], shape[1], name="resize")(images)
    x = ImagenetPreprocessing(preprocessing, name="preprocess")(x)
    x = InferenceMode(backbone, name="backbone")(x) if inference_backbone else backbone(x)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    probs = keras.layers.Dense(n_classes, activation="softmax", dtype="float32", name="head")(x)
    return keras.Model(images, probs, name=name)
