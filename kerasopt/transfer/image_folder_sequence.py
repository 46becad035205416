"""Image classification data on every Keras backend: Pillow decoding, NumPy batches, PyDataset.

The backend-neutral counterpart of `kerasopt.transfer.data` (tf.data, TensorFlow only), for
Keras 3 on JAX or PyTorch. Source: the input-pipeline practice of the TensorFlow guide "Better
performance with the tf.data API" (decode and resize once, cache, shuffle every epoch, batch,
prefetch with parallel workers) carried over to `keras.utils.PyDataset`, whose workers
(threads by default; Pillow releases the GIL while it decodes) prepare the next batches while
the model trains on the current one.

A folder is listed, checked and split by the same code as the tf.data pipeline
(`kerasopt.transfer._images`): non-images and files that do not decode are skipped with a
warning each, a GIF gives its first frame, hidden folders and empty classes are ignored, the
train/ and val/ class sets must match. Two differences, both documented: the full-decode check
uses Pillow, and a folder without train/ and val/ is split per class with NumPy's
`default_rng(seed)` (`_images.split_off`), so its split differs from the tf.data pipeline's for
the same seed (a folder with train/ and val/ gives the same files to both, and so does a test
split drawn from them). Images are resized with Pillow's
bilinear filter (antialiased), not `tf.image.resize`, so pixel values differ slightly.
"""

import math
import os
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np

from kerasopt._validation import check_bool, check_choice, check_int, check_range
from kerasopt.transfer._images import (
    ImageData,
    augmentation,
    folder_examples,
    folder_paths,
    image_size_pair,
)


def _open_rgb(path, size=None):
    """The image at `path` as RGB (a GIF's first frame), optionally resized to (height, width).

    JPEGs are drafted (libjpeg's scaled decoding) to the smallest scale still at least `size`
    before the bilinear resize: most of the inverse DCT of a large photo is skipped.
    """
    from PIL import Image

    with Image.open(path) as image:
        if size is not None and image.format == "JPEG":
            image.draft("RGB", (size[1], size[0]))
        image = image.convert("RGB")
        if size is not None and image.size != (size[1], size[0]):
            image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype="uint8")


def _decode_fails(path):
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.format == "JPEG":  # every byte entropy-decoded, 1/8 of the inverse DCT
                image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
        return False
    except (OSError, ValueError, SyntaxError):
        return True


def check_decode(paths, workers=None):
    """The paths among `paths` that fail a full Pillow decode (truncated or corrupt images)."""
    with ThreadPoolExecutor(workers or min(8, os.cpu_count() or 1)) as pool:
        fails = list(pool.map(_decode_fails, paths))
    return [path for path, fail in zip(paths, fails, strict=True) if fail]


class ImageFolderSequence(keras.utils.PyDataset):
    """Batches of (float32 images in [0, 255], int32 labels) decoded from files with Pillow.

    A `keras.utils.PyDataset`, so `model.fit` and `model.evaluate` take it on every backend.
    Each image is decoded and resized once, then kept as uint8 in memory (`cache=True`); with
    `shuffle=True` the order is drawn again at the end of every epoch from one
    `np.random.default_rng(seed)`, so a seed gives the same sequence of batches. `augment`, a
    callable such as `kerasopt.transfer.augmentation(seed)`, is applied to each float32 batch.

    Args:
        paths: image file paths (JPEG, PNG, GIF: first frame, BMP).
        labels: one int label per path.
        image_size: int or (height, width) the images are resized to.
        batch_size: images per batch; the last batch of an epoch may be smaller.
        drop_remainder: leave out the last, smaller batch of each epoch (one batch shape, so
            a compiled train step is traced once; with `shuffle` every image still takes part
            over the epochs).
        shuffle: draw a new order every epoch.
        seed: seed of the order (int >= 0).
        augment: None, or a callable applied to each float32 batch (e.g. a Keras layer model
            called with `training=True`); its output is converted to NumPy.
        cache: keep the decoded, resized images in memory (uint8) after their first use.
        workers: threads (or processes) preparing batches ahead; 1 prepares them in `fit`'s
            own thread.
        use_multiprocessing: processes instead of threads (each process has its own cache).
        max_queue_size: batches prepared ahead at most.
        dtype: "float32" (values in [0, 255]) or "uint8": the cached bytes as they are, for a
            model that casts and augments inside its compiled step (`kerasopt.layers.
            FlipRotateZoom`); `augment` must then be None.
        pad_last: every batch has `batch_size` images: the last, smaller one is filled up with
            images from the start of the epoch's order, and each batch is (images, labels,
            sample weights), weight 0 on the filling. One batch shape, so a compiled step is
            traced once, and every image is seen once per epoch; with a loss reduced by
            `"mean_with_sample_weight"` the step and the weighted metrics equal those of the
            unpadded batch (tests/transfer/test_padded_batches.py).

    Example:
        >>> import os, tempfile, numpy as np
        >>> from PIL import Image
        >>> from kerasopt.transfer import ImageFolderSequence
        >>> root = tempfile.mkdtemp()
        >>> paths = [os.path.join(root, f"{i}.png") for i in range(5)]
        >>> for i, path in enumerate(paths):
        ...     Image.new("RGB", (12, 10), (50 * i, 0, 0)).save(path)
        >>> sequence = ImageFolderSequence(paths, [0, 0, 1, 1, 1], image_size=8, batch_size=2)
        >>> len(sequence)  # ceil(5 / 2) batches
        3
        >>> images, labels = sequence[2]
        >>> images.shape, images.dtype.name, labels.tolist(), float(images[0, 0, 0, 0])  # red = 50 * 4
        ((1, 8, 8, 3), 'float32', [1], 200.0)
        >>> ImageFolderSequence(paths, [0, 1], batch_size=2)
        Traceback (most recent call last):
        ...
        ValueError: Argument `labels` must have one label per path (5). Received: labels=[0, 1]
    """

    def __init__(
        self,
        paths,
        labels,
        image_size=160,
        batch_size=32,
        drop_remainder=False,
        shuffle=False,
        seed=0,
        augment=None,
        cache=True,
        workers=1,
        use_multiprocessing=False,
        max_queue_size=10,
        dtype="float32",
        pad_last=False,
    ):
        paths = [os.fspath(path) for path in paths]
        labels = list(labels)
        if len(labels) != len(paths):
            raise ValueError(
                f"Argument `labels` must have one label per path ({len(paths)}). "
                f"Received: labels={labels!r}"
            )
        if not paths:
            raise ValueError("Argument `paths` must hold at least one image. Received: paths=[]")
        self.image_size = image_size_pair(image_size)
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.drop_remainder = check_bool("drop_remainder", drop_remainder)
        if drop_remainder and len(paths) < self.batch_size:
            raise ValueError(
                f"Argument `batch_size` must be at most the {len(paths)} images when "
                f"`drop_remainder=True`. Received: batch_size={batch_size}"
            )
        self.shuffle = check_bool("shuffle", shuffle)
        check_int("seed", seed, minimum=0)
        self.cache = check_bool("cache", cache)
        self.dtype = check_choice("dtype", dtype, ("float32", "uint8"))
        self.pad_last = check_bool("pad_last", pad_last)
        if dtype == "uint8" and augment is not None:
            raise ValueError(
                "Argument `augment` must be None for uint8 batches (augment inside the model). "
                f"Received: augment={augment!r}"
            )
        if augment is not None and not callable(augment):
            raise TypeError(
                f"Argument `augment` must be None or callable. Received: augment={augment!r}"
            )
        check_int("workers", workers, minimum=1)
        check_int("max_queue_size", max_queue_size, minimum=1)
        super().__init__(
            workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size
        )
        self.paths = paths
        self.labels = np.asarray(labels, dtype="int32")
        if isinstance(augment, keras.layers.Layer) and not augment.built:
            augment.build((None, *self.image_size, 3))  # before worker threads call it at once
        self.augment = augment
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(len(paths)) if shuffle else np.arange(len(paths))
        self._images = np.zeros((len(paths), *self.image_size, 3), "uint8") if cache else None
        self._decoded = np.zeros(len(paths), bool)

    def __len__(self):
        if self.drop_remainder:
            return len(self.paths) // self.batch_size
        return math.ceil(len(self.paths) / self.batch_size)

    def _image(self, index):
        if self._images is None:
            return _open_rgb(self.paths[index], self.image_size)
        if not self._decoded[index]:
            self._images[index] = _open_rgb(self.paths[index], self.image_size)
            self._decoded[index] = True
        return self._images[index]

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"Batch index {index} is out of range for {len(self)} batches.")
        members = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        real = len(members)
        if self.pad_last and real < self.batch_size:
            filling = np.resize(self._order, self.batch_size - real)  # the order, cycled
            members = np.concatenate([members, filling])
        images = np.stack([self._image(i) for i in members]).astype(self.dtype, copy=False)
        if self.augment is not None:
            images = keras.ops.convert_to_numpy(self.augment(images, training=True))
        if not self.pad_last:
            return images, self.labels[members]
        weights = (np.arange(self.batch_size) < real).astype("float32")
        return images, self.labels[members], weights

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._rng.permutation(len(self.paths))


def image_sequences(
    source,
    image_size=160,
    batch_size=32,
    validation_split=0.2,
    seed=0,
    augment=True,
    workers=None,
    test_split=None,
    in_step=False,
):
    """Train, validation (and test) `ImageFolderSequence`s for a folder of class subfolders, any backend.

    The Pillow + `keras.utils.PyDataset` counterpart of `kerasopt.transfer.image_dataset` for
    folders (no TFDS), with the same folder conventions, checks and splits: with `test_split`,
    a test/ folder is the test set, and without one `test_split` of each class of the held-out
    images becomes the test set (stratified). The splits are disjoint at file level
    (`ImageData.files`).

    Args:
        source: a folder of class subfolders (CLASS/IMAGE), or one with train/ and val/ (or
            validation/) split folders of class subfolders (and optionally test/).
        image_size: int or (height, width) the images are resized to.
        batch_size: batch size.
        validation_split: share of each class held out when the source has no val/ folder.
        seed: seed of the split, the shuffling and the augmentation.
        augment: apply `augmentation(seed)` to training batches.
        workers: threads preparing batches; None: up to 4, one per core.
        test_split: None (no test set), or the share of each class of the held-out images
            that becomes the test set when the source has no test/ folder, in (0, 1).
        in_step: every sequence gives uint8 batches of exactly `batch_size` images (the last
            one padded, with sample weights: `ImageFolderSequence(pad_last=True)`) and none is
            augmented on the host: the model augments inside its compiled step
            (`kerasopt.transfer.in_step.augment_in_step`, when `augment`).

    Returns:
        An `ImageData` whose `train` (shuffled each epoch, augmented), `sweep` (the same with
        seed + 1), `val`, `test` and `train_eval` (in order, not augmented) are
        `ImageFolderSequence`s of (float32 images in [0, 255], int32 labels); the training
        sequences share one cache of decoded images.

    Raises:
        ValueError: an invalid argument, or a folder that cannot give every split.

    Example:
        >>> import os, tempfile, numpy as np
        >>> from PIL import Image
        >>> from kerasopt.transfer import image_sequences
        >>> root = tempfile.mkdtemp()
        >>> for name in ("ants", "bees"):
        ...     os.makedirs(os.path.join(root, name))
        ...     for i in range(5):
        ...         Image.new("RGB", (12, 10), (40 * i,) * 3).save(os.path.join(root, name, f"{i}.png"))
        >>> data = image_sequences(root, image_size=8, batch_size=4)
        >>> data.class_names, data.n_train, data.n_val  # 0.2 of each class's 5 images held out
        (['ants', 'bees'], 8, 2)
        >>> images, labels = data.train[0]
        >>> images.shape, images.dtype.name, labels.dtype.name
        ((4, 8, 8, 3), 'float32', 'int32')
        >>> three = image_sequences(root, image_size=8, validation_split=0.4, test_split=0.5)
        >>> three.n_train, three.n_val, three.n_test  # 2 of 5 held out per class, 1 of them for test
        (6, 2, 2)
        >>> image_sequences(root, validation_split=1.5)
        Traceback (most recent call last):
        ...
        ValueError: Argument `validation_split` must be in (0, 1). Received: validation_split=1.5
    """
    size = image_size_pair(image_size)
    check_int("batch_size", batch_size, minimum=1)
    check_range(
        "validation_split", validation_split, 0, 1, low_inclusive=False, high_inclusive=False
    )
    if test_split is not None:
        check_range("test_split", test_split, 0, 1, low_inclusive=False, high_inclusive=False)
    check_int("seed", seed, minimum=0)
    check_bool("augment", augment)
    check_bool("in_step", in_step)
    if workers is None:
        workers = max(1, min(4, os.cpu_count() or 1))
    check_int("workers", workers, minimum=1)
    source = os.fspath(source)
    if not os.path.isdir(source):
        raise ValueError(
            "Argument `source` must be an existing folder of class subfolders "
            f"(TFDS names need the tf.data pipeline, `image_dataset`). Received: source={source!r}"
        )
    train, val, test, class_names = folder_examples(
        source, validation_split, seed, check_decode, test_split=test_split
    )
    parts = {"train": train, "val": val, **({"test": test} if test is not None else {})}
    common = {"image_size": size, "batch_size": batch_size, "workers": workers}
    if in_step:
        common.update(dtype="uint8", pad_last=True)

    def training(seed):
        return ImageFolderSequence(
            *train,
            shuffle=True,
            seed=seed,
            augment=augmentation(seed) if augment and not in_step else None,
            **common,
        )

    evaluation = {split: ImageFolderSequence(*part, **common) for split, part in parts.items()}
    evaluation["train_eval"] = ImageFolderSequence(*train, **common)
    train_sequence, sweep = training(seed), training(seed + 1)
    for other in (sweep, evaluation["train_eval"]):  # the same files: decode them once
        other._images, other._decoded = train_sequence._images, train_sequence._decoded
    return ImageData(
        train=train_sequence,
        val=evaluation["val"],
        class_names=class_names,
        n_train=len(train[0]),
        n_val=len(val[0]),
        image_size=size,
        batch_size=batch_size,
        source=source,
        counts={
            name: tuple(labels.count(i) for _, labels in parts.values())
            for i, name in enumerate(class_names)
        },
        test=evaluation.get("test"),
        n_test=len(test[0]) if test is not None else 0,
        train_eval=evaluation["train_eval"],
        files={split: list(paths) for split, (paths, _) in parts.items()},
        sweep=sweep,
    )


def folder_sequence(folder, class_names, image_size=160, batch_size=32, workers=None):
    """One evaluation `ImageFolderSequence`, in order, of the images in folder/CLASS/*.

    The counterpart of `kerasopt.transfer.image_folder` (e.g. for a test/ folder beside train/
    and val/): `class_names` fixes the label of each subfolder; subfolders not named are ignored.

    Args:
        folder: a folder of class subfolders (folder/CLASS/IMAGE).
        class_names: the class of each label, in order.
        image_size: int or (height, width) the images are resized to.
        batch_size: batch size.
        workers: threads preparing batches; None: up to 4, one per core.

    Returns:
        An `ImageFolderSequence` in class order, then file-name order.

    Raises:
        ValueError: `folder` is not a folder, or holds no image in the named subfolders.

    Example:
        >>> import os, tempfile
        >>> from PIL import Image
        >>> from kerasopt.transfer import folder_sequence
        >>> root = tempfile.mkdtemp()
        >>> for name, count in (("ants", 2), ("bees", 3)):
        ...     os.makedirs(os.path.join(root, name))
        ...     for i in range(count):
        ...         Image.new("RGB", (12, 10)).save(os.path.join(root, name, f"{i}.png"))
        >>> images, labels = folder_sequence(root, ["ants", "bees"], image_size=8, batch_size=16)[0]
        >>> images.shape, labels.tolist()  # in class order
        ((5, 8, 8, 3), [0, 0, 1, 1, 1])
    """
    size = image_size_pair(image_size)
    check_int("batch_size", batch_size, minimum=1)
    paths, labels = folder_paths(folder, class_names, check_decode)
    if workers is None:
        workers = max(1, min(4, os.cpu_count() or 1))
    return ImageFolderSequence(
        paths, labels, image_size=size, batch_size=batch_size, workers=workers
    )
