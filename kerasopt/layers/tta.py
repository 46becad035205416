"""Test-time augmentation: average a model's predictions over fixed views of each image
(Krizhevsky et al. 2012, sec. 4.1: "the network makes a prediction by extracting five 224x224
patches (the four corner patches and the center patch) as well as their horizontal
reflections (hence ten patches in all), and averaging the predictions").

Modes:
- "ten_crop": the four corner crops, the centre crop, then the horizontal flips of those five.
- "five_crop": the four corner crops and the centre crop.
- "flip": the whole image and its horizontal flip (no crop; `crop_size` unused).

Crops are exact slices of size `crop_size`; the centre crop starts at ((H - h) // 2,
(W - w) // 2). Corner order: top-left, top-right, bottom-left, bottom-right, centre.
"""

import keras
from keras import ops

from kerasopt._validation import check_choice, check_int

_MODES = ("ten_crop", "five_crop", "flip")


@keras.saving.register_keras_serializable(package="kerasopt")
class TestTimeAugmentation(keras.Model):
    """One model whose output is the mean of `model`'s outputs over the views of its input.

    Krizhevsky et al. 2012, sec. 4.1. Wrap a model that outputs probabilities (softmax) to
    average probabilities. The views of a batch are stacked into one batch of V*B images
    and the wrapped model runs once, in inference mode. Saves, loads (`model.save` /
    `keras.models.load_model`) and exports (`model.export`) like any Keras model; runs under
    `jit_compile=True`.

    Args:
        model: a Keras model taking (crop_h, crop_w, C) images (full-size images for "flip").
        mode: "ten_crop", "five_crop" or "flip".
        crop_size: int or pair (crop_h, crop_w) of positive ints; required for the crop modes.

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.layers import TestTimeAugmentation
        >>> core = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.GlobalAveragePooling2D()])
        >>> tta = TestTimeAugmentation(core, mode="five_crop", crop_size=4)
        >>> x = np.ones((1, 6, 6, 1), "float32")
        >>> np.asarray(tta(x)).tolist()  # the mean of the model's outputs over the views
        [[1.0]]

    References:
        Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural
        Networks", NeurIPS 2012, sec. 4.1.
    """

    __test__ = False  # not a pytest test class despite its name

    def __init__(self, model, mode="ten_crop", crop_size=None, **kwargs):
        super().__init__(**kwargs)
        self.mode = check_choice("mode", mode, _MODES)
        if crop_size is None and mode != "flip":
            raise ValueError(
                f"Argument `crop_size` must be given for mode={mode!r}. Received: crop_size=None"
            )
        if crop_size is not None:
            pair = (
                tuple(crop_size) if isinstance(crop_size, (tuple, list)) else (crop_size, crop_size)
            )
            if len(pair) != 2:
                raise ValueError(
                    f"Argument `crop_size` must be an int or a pair. Received: crop_size={crop_size!r}"
                )
            crop_size = tuple(check_int("crop_size", c, minimum=1) for c in pair)
        self.crop_size = crop_size
        self.model = model

    def views(self, images):
        """A list of the V views, each (B, crop_h, crop_w, C) (or the input size for "flip")."""
        if self.mode == "flip":
            return [images, ops.flip(images, axis=2)]
        in_h, in_w = images.shape[1], images.shape[2]
        h, w = self.crop_size
        if h > in_h or w > in_w:
            raise ValueError(
                f"Argument `crop_size` must fit in the input ({in_h}, {in_w}). Received: crop_size={self.crop_size!r}"
            )
        origins = [
            (0, 0),
            (0, in_w - w),
            (in_h - h, 0),
            (in_h - h, in_w - w),
            ((in_h - h) // 2, (in_w - w) // 2),
        ]
        crops = [images[:, top : top + h, left : left + w, :] for top, left in origins]
        if self.mode == "ten_crop":
            crops += [ops.flip(c, axis=2) for c in crops]
        return crops

    def call(self, inputs, training=None):
        views = self.views(inputs)
        stacked = ops.concatenate(views, axis=0)
        outputs = self.model(stacked, training=False)
        outputs = ops.reshape(outputs, (len(views), -1) + tuple(outputs.shape[1:]))
        return ops.mean(outputs, axis=0)

    def get_config(self):
        return {
            **super().get_config(),
            "model": keras.saving.serialize_keras_object(self.model),
            "mode": self.mode,
            "crop_size": self.crop_size,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(
            config["model"], custom_objects=custom_objects
        )
        return cls(**config)
