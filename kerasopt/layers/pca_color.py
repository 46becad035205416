"""PCA colour augmentation ("fancy PCA", Krizhevsky et al. 2012, "ImageNet Classification with
Deep Convolutional Neural Networks", sec. 4.1).

`adapt(data)` computes the covariance of the pixel colour vectors over the whole training set
(every pixel of every image is one C-vector) and its eigen-decomposition: eigenvalues
lambda_1 >= ... >= lambda_C and unit eigenvectors p_1..p_C. In training, each image gets the
same colour shift added to all of its pixels:

    delta = sum_i a_i lambda_i p_i,   a_i ~ N(0, stddev^2) drawn once per image,

exactly the paper's rule (the paper writes the eigenvalues lambda_i of the covariance, not
their square roots; they are in the units of the data's variance). Inference: identity.
No clipping. `channels` defaults to 3 (RGB); with channels=1 the rule is a random brightness
shift of size a * variance.

The eigenvalues and eigenvectors are non-trainable weights, so they save and load with the
model. Pure `keras.ops` call: runs under `jit_compile=True` and in `tf.data`; keeps the input
dtype under mixed_float16 (float input) and casts integer input to the compute dtype.
"""

import keras
import numpy as np
from keras import ops

from kerasopt._validation import check_int, check_range


@keras.saving.register_keras_serializable(package="kerasopt")
class PCAColorAugmentation(keras.layers.Layer):
    """Adds a random colour shift along the principal components of the pixel colours.

    Krizhevsky et al. 2012, sec. 4.1. Call `adapt(data)` before training (until then the
    eigenvalues are zero and the layer is the identity).

    Args:
        stddev: standard deviation of the per-image coefficients a_i, >= 0 (paper: 0.1).
        channels: number of colour channels C (last axis), >= 1.
        seed: int or None.

    Example:
        >>> import numpy as np
        >>> from kerasopt.layers import PCAColorAugmentation
        >>> images = np.random.default_rng(0).uniform(size=(8, 4, 4, 3)).astype("float32")
        >>> layer = PCAColorAugmentation(stddev=0.1, seed=0).adapt(images)
        >>> bool(np.array_equal(layer(images, training=False), images))  # identity at inference
        True
        >>> shift = np.asarray(layer(images, training=True)) - images
        >>> bool(np.allclose(shift, shift[:, :1, :1, :], atol=1e-6))  # one colour shift per image
        True

    References:
        Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural
        Networks", NeurIPS 2012, sec. 4.1.
    """

    def __init__(self, stddev=0.1, channels=3, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = check_range("stddev", stddev, low=0.0)
        self.channels = check_int("channels", channels, minimum=1)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.eigenvalues = self.add_weight(
            name="eigenvalues",
            shape=(self.channels,),
            initializer="zeros",
            trainable=False,
            dtype="float32",
        )
        self.eigenvectors = self.add_weight(
            name="eigenvectors",
            shape=(self.channels, self.channels),
            initializer="identity",
            trainable=False,
            dtype="float32",
        )

    def adapt(self, data, steps=None):
        """Fit the colour covariance's eigen-decomposition to `data`.

        `data`: an array/tensor of shape (..., C) (images or pixel rows), or a `tf.data.Dataset`
        (or any iterable) yielding such batches (a dataset of (x, y) pairs uses x). `steps`: at
        most this many batches from an iterable. Accumulates in float64; returns self.
        """
        batches = [data] if hasattr(data, "shape") else data
        count, total, outer = 0, np.zeros(self.channels), np.zeros((self.channels, self.channels))
        for step, batch in enumerate(batches):
            if steps is not None and step >= steps:
                break
            if isinstance(batch, (tuple, list)):
                batch = batch[0]
            pixels = np.asarray(ops.convert_to_numpy(batch), dtype="float64")
            if pixels.shape[-1] != self.channels:
                raise ValueError(
                    f"Argument `data` must have {self.channels} channels on its last axis. Received: shape={pixels.shape}"
                )
            pixels = pixels.reshape(-1, self.channels)
            count += len(pixels)
            total += pixels.sum(axis=0)
            outer += pixels.T @ pixels
        if count < 2:
            raise ValueError(
                f"Argument `data` must hold at least 2 pixels. Received: data with {count} pixel(s)"
            )
        mean = total / count
        covariance = (outer - count * np.outer(mean, mean)) / (count - 1)
        values, vectors = np.linalg.eigh(covariance)
        order = np.argsort(values)[::-1]
        values, vectors = np.maximum(values[order], 0.0), vectors[:, order]
        vectors *= np.where(
            vectors.sum(axis=0) < 0, -1.0, 1.0
        )  # sign convention: components sum >= 0
        self.eigenvalues.assign(values.astype("float32"))
        self.eigenvectors.assign(vectors.astype("float32"))
        return self

    def call(self, inputs, training=None):
        images = inputs if "float" in str(inputs.dtype) else ops.cast(inputs, self.compute_dtype)
        if not training:
            return images
        batch_shape = tuple(ops.shape(images)[:-3])
        coefficients = keras.random.normal(
            batch_shape + (self.channels,), stddev=self.stddev, seed=self.seed_generator
        )
        eigenvalues = ops.cast(self.eigenvalues, "float32")
        eigenvectors = ops.cast(self.eigenvectors, "float32")
        delta = ops.cast(
            ops.matmul(coefficients * eigenvalues, ops.transpose(eigenvectors)), images.dtype
        )
        # Added as one (W * C) row per image rather than as a (..., 1, 1, C) broadcast: the same
        # sums, about twice as fast on TensorFlow's CPU kernels (a broadcast whose innermost
        # dimension is C is their slow path); free under XLA.
        shape = ops.shape(images)
        height, width = shape[-3], shape[-2]
        rows = ops.reshape(images, (-1, height, width * self.channels))
        shift = ops.tile(ops.reshape(delta, (-1, 1, self.channels)), (1, width, 1))
        shift = ops.reshape(shift, (-1, 1, width * self.channels))
        return ops.reshape(rows + shift, shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "stddev": self.stddev,
            "channels": self.channels,
            "seed": self.seed,
        }
