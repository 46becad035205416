"""Augmentation inside the compiled train step: a uint8 input and `FlipRotateZoom` before a model.

Source: issue 28 ("data on the device, augmentation in the compiled step"); the input-pipeline
practice of the TensorFlow guide "Better performance with the tf.data API" (decode once, cache)
carried to the device: the host cache holds each image decoded once at the training size as
uint8 (`image_sequences(..., in_step=True)`), batches travel as uint8 (a quarter of float32's
bytes), and the flip, rotation and zoom of `kerasopt.transfer.augmentation` (same laws,
`kerasopt.layers.FlipRotateZoom`), the cast and the classifier's own normalisation
(`ImagenetPreprocessing`) run in the jitted step, where XLA fuses them into the model.
Backend-neutral (`keras.ops`, `keras.random`).
"""

import keras

from kerasopt._validation import check_bool
from kerasopt.layers.flip_rotate_zoom import FlipRotateZoom
from kerasopt.transfer._images import image_size_pair


def augment_in_step(model, image_size, augment=True, seed=None, name="in_step"):
    """`keras.Model`: uint8 (height, width, 3) images -> `FlipRotateZoom` -> `model`.

    The augmentation is active only in training (`fit`); at inference it is a cast, so
    `evaluate` and `predict` see `model`'s own outputs. `model` is called as one layer, so its
    weights (and what `kerasopt.transfer.freeze` does to them) are shared.

    Args:
        model: a model taking (height, width, 3) images with values in [0, 255], e.g. from
            `kerasopt.transfer.build_classifier`.
        image_size: int or (height, width) of the uint8 batches.
        augment: False: the cast only (evaluation-only runs, or no augmentation).
        seed: the augmentation's seed (int or None).
        name: the returned model's name.

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.transfer.in_step import augment_in_step
        >>> inner = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(),
        ...                           keras.layers.Dense(2, activation="softmax")])
        >>> model = augment_in_step(inner, 8, seed=0)
        >>> x = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3)).astype("uint8")
        >>> model.inputs[0].dtype, bool(np.allclose(model.predict(x, verbose=0), inner.predict(x.astype("float32"), verbose=0)))
        ('uint8', True)
        >>> augment_in_step(inner, 8, augment="yes")
        Traceback (most recent call last):
        ...
        TypeError: Argument `augment` must be True or False. Received: augment='yes'
    """
    check_bool("augment", augment)
    height, width = image_size_pair(image_size)
    images = keras.Input((height, width, 3), dtype="uint8", name="images_uint8")
    settings = {} if augment else {"flip": False, "rotation": 0.0, "zoom": 0.0}  # the cast only
    x = FlipRotateZoom(seed=seed, name="augment", **settings)(images)
    return keras.Model(images, model(x), name=name)
