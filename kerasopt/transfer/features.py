"""Phase 1 on cached features: run the frozen backbone once per image, train the head on the
pooled features, and measure the images themselves.

Source: the course's transfer-learning section ("a linear classifier on top" of a frozen
ImageNet network is trained on the network's fixed features; computing them once is the
standard way to train it, e.g. CS231n's "CNN codes"), and Keras' transfer-learning guide
(Chollet), whose feature-extraction variant runs the base model once over the data and
trains the head on the stored outputs. Augmentation is left to phase 2, where the backbone
sees every image again anyway. No file I/O.
"""

import sys
import time

import keras
import numpy as np
from keras import ops

from kerasopt._validation import check_int

HEAD_INPUT = "head_pool"


def fit_verbosity(verbose="auto"):
    """Keras `fit`/`predict` verbosity: "auto" is 1 (progress bar) on a terminal and 2 (one line
    per epoch, no carriage returns) when stdout is redirected."""
    if verbose != "auto":
        return verbose
    return 1 if sys.stdout.isatty() else 2


def feature_extractor(model):
    """The part of a `build_classifier` model from raw images to the pooled features (the input
    of its dropout and `head` layers).

    Args:
        model: a classifier from `build_classifier`.

    Example:
        >>> import keras
        >>> from kerasopt.transfer import build_classifier, feature_extractor
        >>> base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)], name="base")
        >>> feature_extractor(build_classifier(base, n_classes=2)).output_shape
        (None, 4)
    """
    return keras.Model(model.inputs, model.get_layer(HEAD_INPUT).output, name="features")


def cache_features(extractor, dataset, verbose="auto", callbacks=()):
    """Pooled backbone features and labels of every batch of `dataset`, computed once.

    Args:
        extractor: `feature_extractor(classifier)` (built once, so each split reuses its
            compiled predict function).
        dataset: batches of (images, labels), not shuffled (e.g. `ImageData.train_eval`).
        verbose: 0, 1 (progress bar), 2 (one line) or "auto" (`fit_verbosity`).
        callbacks: Keras callbacks of the `predict` call (e.g. a step timer).

    Returns:
        (features float32 array (n, channels), labels int32 array (n,), seconds).

    Example:
        >>> import keras, numpy as np, tensorflow as tf
        >>> from kerasopt.transfer import build_classifier
        >>> from kerasopt.transfer.features import cache_features, feature_extractor
        >>> base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)], name="base")
        >>> model = build_classifier(base, n_classes=2)
        >>> x = np.random.default_rng(0).uniform(0, 255, (6, 8, 8, 3)).astype("float32")
        >>> batches = tf.data.Dataset.from_tensor_slices((x, np.arange(6) % 2)).batch(4)
        >>> features, labels, _ = cache_features(feature_extractor(model), batches, verbose=0)
        >>> features.shape, labels.tolist()
        ((6, 4), [0, 1, 0, 1, 0, 1])
        >>> pooled = np.asarray(base(x / 127.5 - 1.0)).mean(axis=(1, 2))  # the same, recomputed
        >>> bool(np.allclose(features, pooled, atol=1e-5))
        True
    """
    start = time.perf_counter()
    features = extractor.predict(dataset, verbose=fit_verbosity(verbose), callbacks=list(callbacks))
    labels = np.concatenate([keras.ops.convert_to_numpy(y) for _, y in dataset]).astype("int32")
    return np.asarray(features, "float32"), labels, time.perf_counter() - start


def head_model(n_features, n_classes, dropout):
    """Dropout then a softmax `Dense` on cached features: the classifier's head on its own
    (the same layers and names as `build_classifier`'s, so its weights copy over)."""
    features = keras.Input((n_features,), name="features")
    x = keras.layers.Dropout(dropout, name="head_dropout")(features)
    probs = keras.layers.Dense(n_classes, activation="softmax", dtype="float32", name="head")(x)
    return keras.Model(features, probs, name="head_on_features")


def image_statistics(dataset, max_images=256):
    """Statistics of (up to `max_images`) images of `dataset` that tell how unlike ImageNet
    photos they are.

    - colourfulness: mean over images of the per-pixel standard deviation across the three
      channels, divided by 255 (0 for grayscale images; natural photos about 0.05 to 0.15);
    - sharpness: mean absolute difference between neighbouring pixels divided by the mean
      absolute deviation from the image's mean (low for blurry or upsampled images);
    - mean_intensity: mean pixel value / 255.

    Args:
        dataset: batches of (float images in [0, 255], labels).
        max_images: how many images to measure, >= 1.

    Returns:
        A dict of the three statistics (floats).

    Example:
        >>> import numpy as np, tensorflow as tf
        >>> from kerasopt.transfer.features import image_statistics
        >>> gray = np.repeat(np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 1)), 3, axis=-1)
        >>> stats = image_statistics(tf.data.Dataset.from_tensor_slices((gray, np.zeros(4))).batch(2))
        >>> stats["colourfulness"]
        0.0
    """
    check_int("max_images", max_images, minimum=1)
    colour, sharp, mean, seen = [], [], [], 0
    for images, _ in dataset:
        x = ops.convert_to_numpy(images).astype("float32")[: max_images - seen]
        seen += len(x)
        red, green, blue = x[..., 0], x[..., 1], x[..., 2]  # (slices: 10x faster than axis=-1)
        gray = (red + green + blue) / 3.0
        spread_rgb = np.sqrt(((red - gray) ** 2 + (green - gray) ** 2 + (blue - gray) ** 2) / 3.0)
        colour.append(spread_rgb.mean(axis=(1, 2)) / 255.0)
        steps = np.abs(np.diff(gray, axis=1)).mean(axis=(1, 2)) + np.abs(
            np.diff(gray, axis=2)
        ).mean(axis=(1, 2))
        spread = np.abs(gray - gray.mean(axis=(1, 2), keepdims=True)).mean(axis=(1, 2))
        sharp.append(steps / 2.0 / np.maximum(spread, 1e-6))
        mean.append(gray.mean(axis=(1, 2)) / 255.0)
        if seen >= max_images:
            break
    return {
        "colourfulness": round(float(np.concatenate(colour).mean()), 4),
        "sharpness": round(float(np.concatenate(sharp).mean()), 4),
        "mean_intensity": round(float(np.concatenate(mean).mean()), 4),
    }
