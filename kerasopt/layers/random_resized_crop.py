"""Random resized crop ("Inception-style" crop, Szegedy et al. 2015, "Going Deeper with
Convolutions", sec. 6; the scale/aspect-ratio sampling of torchvision's RandomResizedCrop).

Training: per image, a crop of area fraction s ~ U(scale) of the image and aspect ratio
r = w / h with log r ~ U(log ratio), placed uniformly at random inside the image, resized
bilinearly to (height, width). Ten (s, r) candidates are drawn per image and the first that
fits inside the image is used; if none fits (probability < 1e-6 for the defaults on a square
image) the fallback is the whole image, cut centrally to the nearest aspect ratio in `ratio`.
Boxes are continuous (sub-pixel), so the area and aspect constraints hold exactly.

Inference (documented choice): the largest centred crop with the output's aspect ratio,
resized to (height, width); for an image with the output's aspect ratio this is a plain
bilinear resize of the whole image (equal to `tf.image.resize(..., "bilinear")`).

Accepts batched (B, H, W, C) or single (H, W, C) images; integer images are cast to the
compute dtype. Pure `keras.ops` (`_crops.crop_and_resize`): runs under `jit_compile=True`
and in `tf.data`. Needs static H and W.
"""

import math

import keras
from keras import ops

from kerasopt._validation import check_int, check_pair
from kerasopt.layers._crops import center_box, crop_and_resize

_TRIES = 10


@keras.saving.register_keras_serializable(package="kerasopt")
class RandomResizedCrop(keras.layers.Layer):
    """A crop of random area and aspect ratio, resized to (height, width); centre crop at inference.

    Args:
        height: output height, a positive integer.
        width: output width, a positive integer.
        scale: (min, max) area fraction of the crop, 0 < min <= max <= 1.
        ratio: (min, max) aspect ratio width / height, 0 < min <= max.
        seed: int or None.

    Example:
        >>> import numpy as np
        >>> from kerasopt.layers import RandomResizedCrop
        >>> images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
        >>> layer = RandomResizedCrop(16, 16, seed=0)
        >>> tuple(layer(images, training=True).shape)
        (2, 16, 16, 3)

    References:
        Szegedy et al., "Going Deeper with Convolutions", CVPR 2015 (the Inception crops).
    """

    def __init__(self, height, width, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), seed=None, **kwargs):
        super().__init__(**kwargs)
        self.height = check_int("height", height, minimum=1)
        self.width = check_int("width", width, minimum=1)
        self.scale = check_pair("scale", scale, positive=True)
        if self.scale[1] > 1:
            raise ValueError(
                f"Argument `scale` must be a pair in (0, 1]. Received: scale={scale!r}"
            )
        self.ratio = check_pair("ratio", ratio, positive=True)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _random_boxes(self, batch, in_h, in_w):
        area = float(in_h * in_w)
        s = keras.random.uniform((batch, _TRIES), *self.scale, seed=self.seed_generator)
        log_r = keras.random.uniform(
            (batch, _TRIES),
            math.log(self.ratio[0]),
            math.log(self.ratio[1]),
            seed=self.seed_generator,
        )
        r = ops.exp(log_r)
        box_w, box_h = ops.sqrt(s * area * r), ops.sqrt(s * area / r)
        fits = ops.logical_and(box_w <= in_w, box_h <= in_h)
        first = ops.argmax(ops.cast(fits, "int32"), axis=1)[:, None]
        found = ops.any(fits, axis=1)
        aspect = min(max(in_w / in_h, self.ratio[0]), self.ratio[1])
        _, _, fallback_h, fallback_w = center_box(in_h, in_w, aspect, batch)
        box_h = ops.where(found, ops.take_along_axis(box_h, first, axis=1)[:, 0], fallback_h)
        box_w = ops.where(found, ops.take_along_axis(box_w, first, axis=1)[:, 0], fallback_w)
        top = keras.random.uniform((batch,), seed=self.seed_generator) * (in_h - box_h)
        left = keras.random.uniform((batch,), seed=self.seed_generator) * (in_w - box_w)
        return top, left, box_h, box_w

    def call(self, inputs, training=None):
        images = inputs if "float" in str(inputs.dtype) else ops.cast(inputs, self.compute_dtype)
        single = len(images.shape) == 3
        if single:
            images = images[None]
        batch, in_h, in_w = ops.shape(images)[0], images.shape[1], images.shape[2]
        if training:
            boxes = self._random_boxes(batch, in_h, in_w)
        else:
            boxes = center_box(in_h, in_w, self.width / self.height, batch)
        out = crop_and_resize(images, boxes, self.height, self.width)
        return out[0] if single else out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-3]) + (self.height, self.width, input_shape[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "scale": self.scale,
            "ratio": self.ratio,
            "seed": self.seed,
        }
