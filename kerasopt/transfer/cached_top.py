"""Phase 2 on cached activations: the frozen bottom of the backbone runs once per image, and
only the unfrozen top (with the head) is trained, on the stored activations.

Source: the feature-extraction variant of Keras' transfer-learning guide (Chollet: "run the
base model once over the data and train on the stored outputs") carried up to the first
unfrozen layer: with BatchNormalization frozen and the backbone in inference mode
(`kerasopt.layers.InferenceMode`), the layers below the first trainable one compute a fixed
function of the image, so their output can be computed once instead of every epoch. An epoch
then costs the top's forward and backward pass only. Augmentation changes the image and hence
the bottom's output: `views` > 1 caches that many versions of each training image (the first
unaugmented, the others drawn from the training pipeline's augmentation) and each epoch draws
one of them per image (`kerasopt.transfer.fitting.epoch_batches`). No file I/O.

The trained layers are the classifier's own (the top model shares its layer objects), so the
classifier, and whatever is saved or exported from it, holds the trained weights.
"""

import dataclasses
import math
import time

import keras
import numpy as np

from kerasopt._validation import check_int
from kerasopt.layers.inference_mode import InferenceMode
from kerasopt.transfer.fitting import epoch_batches

# Cached activations of every view and the validation images together may take this many bytes
# (float32); beyond it phase 2 trains on the images (`split_classifier` is not used).
MAX_CACHE_BYTES = 1 << 30
_HEAD_LAYERS = ("head_pool", "head_dropout", "head")


@dataclasses.dataclass
class SplitClassifier:
    """A `build_classifier` model cut below its first trainable backbone layer.

    `bottom`: raw images -> the activations at the cut (resize, preprocessing and the frozen
    backbone layers below it, in inference mode). `top`: those activations -> class
    probabilities (the rest of the backbone, in inference mode, and the head; the classifier's
    own layer objects). `backbone_top`: the backbone's part inside `top` (for the discriminative
    optimizer). `cut`: the name of the first backbone layer in `top`.
    """

    bottom: keras.Model
    top: keras.Model
    backbone_top: keras.Model
    cut: str


def split_classifier(model, base):
    """`SplitClassifier` of `model` (a `build_classifier` model on `base`), cut at the latest
    single tensor of `base` below its first layer with trainable weights; None when that tensor
    is the backbone's input (nothing frozen to cache) or `base` trains nothing.

    The cut searches down from the first trainable layer for a layer whose one input tensor
    carries everything the layers above need (a residual connection around the candidate rules
    it out: Keras refuses the top model as disconnected).

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.transfer import build_classifier, unfreeze
        >>> from kerasopt.transfer.cached_top import split_classifier
        >>> base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="c1"),
        ...                          keras.layers.Conv2D(4, 3, name="c2")], name="base")
        >>> model = build_classifier(base, n_classes=2)
        >>> unfreeze(base, from_layer="c2")
        ['c2']
        >>> split = split_classifier(model, base)
        >>> split.cut, split.bottom.output_shape, split.top.output_shape
        ('c2', (None, 6, 6, 4), (None, 2))
        >>> x = np.random.default_rng(0).uniform(0, 255, (3, 8, 8, 3)).astype("float32")
        >>> bool(np.allclose(split.top(split.bottom(x)), model(x), atol=1e-6))
        True
    """
    layers = base.layers
    first = next((i for i, layer in enumerate(layers) if layer.trainable_weights), None)
    if first is None:
        return None
    for index in range(first, 0, -1):
        tensor = layers[index].input
        if not isinstance(tensor, keras.KerasTensor) or tensor is base.inputs[0]:
            continue
        try:
            backbone_top = keras.Model(tensor, base.outputs[0], name=f"{base.name}_top")
        except ValueError:  # another tensor from below crosses the cut (a residual connection)
            continue
        if {id(v) for v in base.trainable_weights} - {id(v) for v in backbone_top.weights}:
            continue
        return SplitClassifier(
            _bottom(model, base, tensor),
            _top(model, backbone_top, tensor.shape[1:]),
            backbone_top,
            layers[index].name,
        )
    return None


def _bottom(model, base, tensor):
    images = keras.Input(shape=model.input_shape[1:], name="images")
    x = model.get_layer("resize")(images)
    x = model.get_layer("preprocess")(x)
    frozen = keras.Model(base.inputs, tensor, name=f"{base.name}_bottom")
    return keras.Model(images, InferenceMode(frozen, name="backbone_bottom")(x), name="bottom")


def _top(model, backbone_top, shape):
    activations = keras.Input(shape=shape, name="activations")
    x = InferenceMode(backbone_top, name="backbone_top")(activations)
    for name in _HEAD_LAYERS:
        x = model.get_layer(name)(x)
    return keras.Model(activations, x, name="top")


@dataclasses.dataclass
class CachedActivations:
    """The cut's activations of the training images (`views`, each an array (n_train, ...)),
    their labels, and the validation split as batches of (activations, labels): the `data` of
    `kerasopt.transfer.fitting.fit_phase` (`train` is a function of the phase's epoch), for the
    `split`'s top; `seconds`: the time the caching took."""

    split: SplitClassifier
    views: list
    labels: np.ndarray
    val: object
    n_train: int
    batch_size: int
    seconds: float
    sample_weight: np.ndarray | None = None
    epochs: int = 0  # the phase's epochs, set before training

    @property
    def steps_per_epoch(self):
        return math.ceil(self.n_train / self.batch_size)

    def train(self, first_epoch):
        """The batches of the phase's epochs from `first_epoch` on (`epoch_batches`)."""
        return epoch_batches(
            self.views, self.labels, self.batch_size, first_epoch, self.epochs, self.sample_weight
        )


def cached_bytes(split, n_images):
    """Bytes (float32) of the cut's activations for `n_images` images."""
    return 4 * n_images * math.prod(split.bottom.output_shape[1:])


def cache_activations(split, data, views=1, class_weight=None, seed=0):
    """`CachedActivations` of `data` (an `ImageData`) at the cut of `split`.

    View 0 is every training image as evaluated (`data.train_eval`: not shuffled, not
    augmented); view k >= 1 is the same images through the training augmentation
    (`kerasopt.transfer.augmentation(seed + k)`), in the same order.

    Args:
        split: a `SplitClassifier`.
        data: an `ImageData` with `train_eval`.
        views: versions of each training image to cache (>= 1).
        class_weight: None or {class: weight}: per-example weights of the training batches.
        seed: the augmentation's seed (view k uses seed + k).

    Example:
        >>> import keras, numpy as np, tensorflow as tf
        >>> from kerasopt.transfer import ImageData, build_classifier, unfreeze
        >>> from kerasopt.transfer.cached_top import cache_activations, split_classifier
        >>> base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="c1"),
        ...                          keras.layers.Conv2D(4, 3, name="c2")], name="base")
        >>> model = build_classifier(base, n_classes=2)
        >>> _ = unfreeze(base, from_layer="c2")
        >>> x = np.random.default_rng(0).uniform(0, 255, (6, 8, 8, 3)).astype("float32")
        >>> batches = tf.data.Dataset.from_tensor_slices((x, np.arange(6) % 2)).batch(4)
        >>> data = ImageData(batches, batches, ["a", "b"], 6, 6, (8, 8), 4, "memory", train_eval=batches)
        >>> cached = cache_activations(split_classifier(model, base), data, views=2)
        >>> len(cached.views), cached.views[1].shape, cached.labels.tolist()
        (2, (6, 6, 6, 4), [0, 1, 0, 1, 0, 1])
    """
    from kerasopt.transfer._images import augmentation

    check_int("views", views, minimum=1)
    if data.train_eval is None:
        raise ValueError(
            "Argument `data` must have `train_eval` (the training images in order, not "
            "augmented). Received: data.train_eval=None"
        )
    start = time.perf_counter()
    arrays, labels = [], None
    for view in range(views):
        augment = None if view == 0 else augmentation(seed + view)
        x, labels = _run(split.bottom, data.train_eval, augment)
        arrays.append(x)
    x_val, y_val = _run(split.bottom, data.val)
    weights = None
    if class_weight is not None:
        weights = np.array([class_weight.get(int(c), 1.0) for c in labels], "float32")
    return CachedActivations(
        split,
        arrays,
        labels,
        _batched(x_val, y_val, data.batch_size),
        len(labels),
        data.batch_size,
        time.perf_counter() - start,
        weights,
    )


def _run(bottom, dataset, augment=None):
    outputs, labels = [], []
    for images, y in dataset:
        if augment is not None:
            images = augment(images, training=True)
        outputs.append(np.asarray(bottom.predict_on_batch(images), "float32"))
        labels.append(keras.ops.convert_to_numpy(y))
    return np.concatenate(outputs), np.concatenate(labels).astype("int32")


def _batched(x, y, batch_size):
    from kerasopt._backend import tf

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


class SeesClassifier(keras.callbacks.Callback):
    """A phase-2 callback of the user's, shown the whole classifier while the top trains.

    `fit` on the cached activations trains `top`, but a user's callback (saving the model,
    reading its weights) is written for the classifier: it gets `classifier` as its model, and
    a stop it asks for (`classifier.stop_training`) stops the fit of the top.

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.transfer.cached_top import SeesClassifier
        >>> whole = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)], name="whole")
        >>> part = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)], name="part")
        >>> part.compile(optimizer="sgd", loss="mse")
        >>> class Seen(keras.callbacks.Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(self.model.name)
        >>> _ = part.fit(np.zeros((2, 2)), np.zeros(2), verbose=0, callbacks=[SeesClassifier(Seen(), whole)])
        whole
    """

    def __init__(self, callback, classifier):
        super().__init__()
        self.callback, self.classifier = callback, classifier
        callback.set_model(classifier)

    def set_model(self, model):
        self._trained = model

    def set_params(self, params):
        self.callback.set_params(params)


def _forward(name):
    def hook(self, *args, **kwargs):
        self.classifier.stop_training = self._trained.stop_training
        getattr(self.callback, name)(*args, **kwargs)
        self._trained.stop_training = self.classifier.stop_training

    hook.__name__ = name
    return hook


for _name in [
    f"on_{mode}_{when}"
    for mode in ("train", "test", "predict", "epoch")
    for when in ("begin", "end")
] + [
    f"on_{mode}_batch_{when}" for mode in ("train", "test", "predict") for when in ("begin", "end")
]:
    setattr(SeesClassifier, _name, _forward(_name))
del _name
