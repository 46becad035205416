"""Flip, rotation and zoom of uint8 images as one affine resample, inside the compiled step.

The training-time augmentation of `kerasopt.transfer.augmentation` (Keras' `RandomFlip`
("horizontal"), `RandomRotation(rotation)` and `RandomZoom(zoom)`, reflected borders; the
course's data-augmentation section: random flips, small rotations and zooms of the training
images only), drawn from the same distributions but applied as ONE bilinear resample per
image (`_affine.affine_sample`) by a layer that sits at the front of the model. Put there, the
host pipeline moves uint8 batches as they are cached and the augmentation runs inside the
jitted train step, where XLA fuses it with the cast, the normalisation and the first
convolution (on JAX, Keras' random layers called per batch in `PyDataset` workers run op by
op instead).

Per image, independently: a horizontal flip with probability 1/2; an angle
theta ~ U(-2 pi rotation, 2 pi rotation) (Keras' `RandomRotation` factor convention: a
fraction of a full turn); a zoom z ~ U(1 - zoom, 1 + zoom) (`RandomZoom`'s: the output
samples the source on a grid scaled by z about the centre, the same z for both axes). The
output pixel p samples the source at c + z R(theta) F (p - c), c the image centre, F the
flip. Inference (`training=False`), or all three off: the images cast to float, untouched. Output values stay
in the input's range ([0, 255] for uint8), in the compute dtype.
"""

import math

import keras
from keras import ops

from kerasopt._validation import check_bool, check_range
from kerasopt.layers._affine import affine_sample


@keras.saving.register_keras_serializable(package="kerasopt")
class FlipRotateZoom(keras.layers.Layer):
    """Random horizontal flip, rotation and zoom in one resample; the cast to float at inference.

    Args:
        flip: flip horizontally with probability 1/2.
        rotation: the largest angle as a fraction of a full turn, in [0, 0.5] (0.05: 18 deg).
        zoom: the largest relative zoom, in [0, 1) (0.1: scales in [0.9, 1.1]).
        seed: int or None.

    Example:
        >>> import numpy as np
        >>> from kerasopt.layers import FlipRotateZoom
        >>> images = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3)).astype("uint8")
        >>> layer = FlipRotateZoom(seed=0)
        >>> out = np.asarray(layer(images, training=True))
        >>> out.shape, out.dtype.name, bool(out.min() >= 0 and out.max() <= 255)
        ((2, 16, 16, 3), 'float32', True)
        >>> bool(np.array_equal(layer(images, training=False), images))  # inference: a cast
        True
        >>> FlipRotateZoom(rotation=0.7)
        Traceback (most recent call last):
        ...
        ValueError: Argument `rotation` must be in [0, 0.5]. Received: rotation=0.7

    References:
        Krizhevsky et al., "ImageNet Classification with Deep Convolutional Neural Networks",
        NeurIPS 2012 (label-preserving flips and crops); Keras' `RandomFlip`, `RandomRotation`
        and `RandomZoom` for the parameter conventions.
    """

    def __init__(self, flip=True, rotation=0.05, zoom=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.flip = check_bool("flip", flip)
        self.rotation = float(check_range("rotation", rotation, 0, 0.5))
        self.zoom = float(check_range("zoom", zoom, 0, 1, high_inclusive=False))
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def transforms(self, batch, height, width):
        """(batch, 6) float32 affine maps (Keras' convention, `_affine`) of one random draw."""

        def uniform(low, high):
            return keras.random.uniform((batch,), low, high, seed=self.seed_generator)

        sign = ops.ones((batch,), "float32")
        if self.flip:
            sign = ops.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0)
        angle = uniform(-2 * math.pi * self.rotation, 2 * math.pi * self.rotation)
        scale = uniform(1.0 - self.zoom, 1.0 + self.zoom)
        cos, sin = scale * ops.cos(angle), scale * ops.sin(angle)
        a0, a1, b0, b1 = sign * cos, -sin, sign * sin, cos
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        return ops.stack([a0, a1, cx - a0 * cx - a1 * cy, b0, b1, cy - b0 * cx - b1 * cy], axis=1)

    def call(self, inputs, training=None):
        if not training or not (self.flip or self.rotation or self.zoom):
            return ops.cast(inputs, self.compute_dtype)
        height, width = inputs.shape[1], inputs.shape[2]
        maps = self.transforms(ops.shape(inputs)[0], height, width)
        return ops.cast(affine_sample(inputs, maps), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "flip": self.flip,
            "rotation": self.rotation,
            "zoom": self.zoom,
            "seed": self.seed,
        }
