"""Image classification data as `tf.data` pipelines: a folder of class subfolders or a TFDS name.

TensorFlow-only (tf.data, tf.image, tensorflow-datasets). Source: the input-pipeline practice of
the TensorFlow guide "Better performance with the tf.data API" (decode and resize once, cache,
shuffle, batch, augment, prefetch) and the course's data-augmentation section (random flips,
small rotations and zooms of the training images only).

Checked before any training (folders): every image is decoded in full once (one parallel pass);
files that are not JPEG, PNG, GIF or BMP images, or that do not decode (a truncated JPEG), are
skipped with one warning each naming the file; GIF files are decoded (first frame) with a warning
naming them, so a placeholder image is never silent. Hidden folders (".ipynb_checkpoints") and
class folders without a usable image are ignored with a warning. The train/ and val/ class sets
must match (the error lists the difference), and without a val/ folder each class must give at
least one training and one validation image at `validation_split` (with `test_split`, also one
test image), so no accuracy is ever computed without a class. `ImageData.count_table()` lists the images per class.
Offline, a TFDS name that is not prepared fails after one connection check (3 s at most) and
leaves no empty dataset folder.
"""

import os
import socket
from pathlib import Path

from kerasopt._backend import tf
from kerasopt._validation import check_int, check_range
from kerasopt.transfer._images import (  # noqa: F401 (ImageData, augmentation: re-exported)
    ImageData,
    augmentation,
    folder_examples,
    folder_paths,
    image_format,
    image_size_pair,
    list_images,
)
from kerasopt.transfer.input_size import PHOTO_SIZE, size_from_files

AUTOTUNE = -1  # tf.data.AUTOTUNE, without importing TensorFlow
_DOWNLOAD_HOST = (
    "storage.googleapis.com",
    443,
    3.0,
)  # TFDS downloads; checked once, offline fails fast


class DataUnavailableError(RuntimeError):
    """A TFDS dataset is not prepared locally and cannot be downloaded.

    Raised by `image_dataset` for a "tfds:NAME" source, before any training, with a message
    that says how to supply the data (prepare it elsewhere and copy it, `TFDS_DATA_DIR`, or a
    local folder). A `RuntimeError`, so `except RuntimeError` also catches it.

    Example:
        >>> from kerasopt.transfer import DataUnavailableError
        >>> try:
        ...     raise DataUnavailableError("TFDS dataset 'x' is not prepared")
        ... except RuntimeError as error:
        ...     print(type(error).__name__, "-", error)
        DataUnavailableError - TFDS dataset 'x' is not prepared
    """


def _check_decode(paths):
    """The paths among `paths` that fail a full decode (truncated or corrupt images).

    One parallel `tf.data` pass: JPEGs are entropy-decoded in full at 1/8 scale (libjpeg's
    scaled decoding skips most of the inverse DCT but reads every byte, so a truncated file
    fails), other formats with `tf.io.decode_image`. Failing elements are dropped by
    `ignore_errors`; the paths that come out are the good ones.
    """
    if not paths:
        return []

    def check(path):
        contents = tf.io.read_file(path)
        shape = tf.cond(
            tf.io.is_jpeg(contents),
            lambda: tf.shape(tf.io.decode_jpeg(contents, channels=3, ratio=8)),
            lambda: tf.shape(tf.io.decode_image(contents, channels=3, expand_animations=False)),
        )
        return path, shape

    dataset = tf.data.Dataset.from_tensor_slices(paths).map(check, num_parallel_calls=AUTOTUNE)
    dataset = dataset.ignore_errors().batch(256)
    good = {p.decode() for batch, _ in dataset.as_numpy_iterator() for p in batch}
    return [p for p in paths if p not in good]


def _list_images(folder, class_names):
    """{class: paths} of the decodable images in folder/CLASS/* (`_images.list_images`)."""
    return list_images(folder, class_names, _check_decode)


def _tf_permutations(seed):
    """n -> a permutation of range(n) from one `tf.random.Generator` seeded with `seed`: the
    validation split of `image_dataset` (`_images.split_off`), as drawn since its first
    version, so a seed keeps its split."""
    rng = tf.random.Generator.from_seed(seed)
    return lambda n: tf.argsort(rng.uniform([n])).numpy()


def _decode(path):
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _tfds_examples(name, validation_split, test_split=None, seed=0):
    """({split: (dataset of (uint8 image, label), count)}, class names).

    The splits: train; validation (TFDS' validation, else its test, else the last
    `validation_split` of train); with `test_split`, TFDS' test split when it also has a
    validation split, else the last `test_split` of the validation images.
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name)
    except Exception as error:
        raise DataUnavailableError(
            f"tensorflow-datasets has no dataset {name!r}: {error}"
        ) from None
    if not builder.is_prepared():
        try:
            if not _reachable(*_DOWNLOAD_HOST):
                raise ConnectionError(
                    f"no connection to {_DOWNLOAD_HOST[0]}:{_DOWNLOAD_HOST[1]} within {_DOWNLOAD_HOST[2]:g} s"
                )
            builder.download_and_prepare()
        except Exception as error:
            _remove_empty_folders(Path(builder.data_dir), Path(builder.data_dir_root))
            raise DataUnavailableError(
                f"TFDS dataset {name!r} is not prepared in {builder.data_dir} and could not be "
                f"downloaded ({type(error).__name__}: {str(error)[:200]}). Prepare it on a machine "
                f"with a network (`tfds build {name}`) and copy the data folder here, or point "
                "TFDS_DATA_DIR at a folder that holds it; or pass a local folder of class "
                "subfolders instead."
            ) from None
    splits = builder.info.splits
    val_split = next((s for s in ("validation", "test") if s in splits), None)
    if val_split is None:
        cut = round(100 * (1 - validation_split))
        names = {"train": f"train[:{cut}%]", "val": f"train[{cut}%:]"}
        if test_split is not None:
            middle = cut + round((100 - cut) * (1 - test_split))
            names["val"], names["test"] = f"train[{cut}%:{middle}%]", f"train[{middle}%:]"
    else:
        names = {"train": "train", "val": val_split}
        if test_split is not None and val_split == "validation" and "test" in splits:
            names["test"] = "test"
        elif test_split is not None:
            cut = round(100 * (1 - test_split))
            names["val"], names["test"] = f"{val_split}[:{cut}%]", f"{val_split}[{cut}%:]"
    image_key, label_key = builder.info.supervised_keys
    class_names = list(builder.info.features[label_key].names)
    datasets = {
        split: builder.as_dataset(split=s, shuffle_files=False).map(
            lambda ex: (ex[image_key], ex[label_key]), num_parallel_calls=AUTOTUNE
        )
        for split, s in names.items()
    }
    return {split: (d, _count(d)) for split, d in datasets.items()}, class_names


def _reachable(host, port, timeout):
    """Whether a TCP connection to host:port opens within `timeout` seconds (one try)."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def _remove_empty_folders(folder, root):
    """Remove `folder` and its parents below `root` while they are empty (what a failed
    `tfds.builder` left)."""
    while (
        folder != root and root in folder.parents and folder.is_dir() and not any(folder.iterdir())
    ):
        folder.rmdir()
        folder = folder.parent


def _count(dataset):
    """Number of elements: the known cardinality, else by iterating once."""
    cardinality = int(dataset.cardinality())
    if cardinality >= 0:
        return cardinality
    return int(dataset.reduce(0, lambda n, _: n + 1))


def _resizer(size):
    def resize(image, label):
        image = tf.image.resize(image, size)
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8), tf.cast(
            label, tf.int32
        )

    return resize


def _to_float(images, labels):
    return tf.cast(images, tf.float32), labels


def image_folder(folder, class_names, image_size=160, batch_size=32):
    """One evaluation pipeline, not shuffled or augmented, of the images in folder/CLASS/*.

    For a split that `image_dataset` does not read, e.g. a test/ folder beside train/ and
    val/. `class_names` fixes the label of each subfolder (those of the `ImageData` the
    model was trained on). Batches of (float32 images in [0, 255], int32 labels), decoded
    and resized once (cached).

    Args:
        folder: a folder of class subfolders (folder/CLASS/IMAGE).
        class_names: the class of each label, in order; subfolders not named here are ignored.
        image_size: int or (height, width) the images are resized to.
        batch_size: batch size.

    Returns:
        A `tf.data.Dataset` of (images, labels) batches, in class order, then file-name order.

    Raises:
        ValueError: `folder` is not a folder, or holds no image in the named subfolders.

    Example:
        >>> import os, tempfile, numpy as np, tensorflow as tf
        >>> from kerasopt.transfer import image_folder
        >>> root = tempfile.mkdtemp()
        >>> for name, count in (("ants", 2), ("bees", 3)):
        ...     os.makedirs(os.path.join(root, name))
        ...     for i in range(count):
        ...         png = tf.io.encode_png(np.zeros((12, 10, 3), "uint8"))
        ...         _ = tf.io.write_file(os.path.join(root, name, f"{i}.png"), png)
        >>> images, labels = next(iter(image_folder(root, ["ants", "bees"], image_size=8, batch_size=16)))
        >>> images.shape, images.dtype.name, labels.numpy().tolist()  # not shuffled: class order
        (TensorShape([5, 8, 8, 3]), 'float32', [0, 0, 1, 1, 1])
    """
    size = image_size_pair(image_size)
    check_int("batch_size", batch_size, minimum=1)
    paths, labels = folder_paths(folder, class_names, _check_decode)
    dataset = tf.data.Dataset.from_tensor_slices((paths, labels)).map(
        lambda p, y: (_decode(p), y), num_parallel_calls=AUTOTUNE
    )
    dataset = dataset.map(_resizer(size), num_parallel_calls=AUTOTUNE).cache().batch(batch_size)
    return dataset.map(_to_float, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def image_dataset(
    source,
    image_size=160,
    batch_size=32,
    validation_split=0.2,
    seed=0,
    augment=True,
    test_split=None,
):
    """Train, validation (and test) pipelines for image classification.

    The one place that builds the input pipelines of `kerasopt.transfer` (tf.data).

    Splits: train/ and val/ (or validation/) folders are kept; without them each class's
    `validation_split` is held out at random (seeded). With `test_split`, a test/ folder is the
    test set, and without one `test_split` of each class of the held-out images becomes the
    test set (stratified): for ants vs bees (train/ and val/ only), test_split=0.5 gives val/'s
    halves to validation and test, and the training folder stays whole. The three splits are
    disjoint at file level (`ImageData.files`).

    Args:
        source: a folder of class subfolders (CLASS/IMAGE), or one with train/ and val/ (or
            validation/) split folders of class subfolders (and optionally test/); or
            "tfds:NAME[/CONFIG]" for a tensorflow-datasets dataset (its validation or test
            split, else the last `validation_split` of train).
        image_size: int or (height, width) the images are resized to, or "auto": from the
            training files' sizes (`kerasopt.transfer.input_size.size_from_files`).
        batch_size: batch size.
        validation_split: share of each class held out when the source has no validation split.
        seed: seed of the split, the shuffling and the augmentation.
        augment: apply `augmentation()` to training batches.
        test_split: None (no test set), or the share of each class of the held-out images
            that becomes the test set when the source has no test split, in (0, 1).

    Returns:
        An `ImageData`: decode, resize and cache once (uint8), then shuffle each epoch, batch,
        augment and prefetch; images come out float32 in [0, 255] (the classifier does the
        backbone's preprocessing itself).

    Raises:
        DataUnavailableError: a TFDS dataset that is neither prepared nor downloadable.
        ValueError: an invalid argument, or a folder that cannot give every split (see the
            module's checks).

    Example:
        >>> import os, tempfile, numpy as np, tensorflow as tf
        >>> from kerasopt.transfer import image_dataset
        >>> root = tempfile.mkdtemp()
        >>> for name in ("ants", "bees"):
        ...     os.makedirs(os.path.join(root, name))
        ...     for i in range(5):
        ...         png = tf.io.encode_png(np.full((12, 10, 3), 40 * i, "uint8"))
        ...         _ = tf.io.write_file(os.path.join(root, name, f"{i}.png"), png)
        >>> data = image_dataset(root, image_size=8, batch_size=4)
        >>> data.class_names, data.n_train, data.n_val  # 0.2 of each class's 5 images held out
        (['ants', 'bees'], 8, 2)
        >>> images, labels = next(iter(data.train))
        >>> tuple(images.shape), images.dtype.name, labels.dtype.name
        ((4, 8, 8, 3), 'float32', 'int32')
        >>> three = image_dataset(root, image_size=8, validation_split=0.4, test_split=0.5)
        >>> three.n_train, three.n_val, three.n_test  # 2 of 5 held out per class, 1 of them for test
        (6, 2, 2)
        >>> image_dataset(root, validation_split=1.5)
        Traceback (most recent call last):
        ...
        ValueError: Argument `validation_split` must be in (0, 1). Received: validation_split=1.5
    """
    size = (
        None
        if isinstance(image_size, str) and image_size == "auto"
        else image_size_pair(image_size)
    )
    check_int("batch_size", batch_size, minimum=1)
    check_range(
        "validation_split", validation_split, 0, 1, low_inclusive=False, high_inclusive=False
    )
    if test_split is not None:
        check_range("test_split", test_split, 0, 1, low_inclusive=False, high_inclusive=False)
    check_int("seed", seed, minimum=0)
    source = os.fspath(source)

    files = {}
    if source.startswith("tfds:"):
        splits, class_names = _tfds_examples(source[5:], validation_split, test_split, seed)
        counts = {}
    elif os.path.isdir(source):
        train, val, test, class_names = folder_examples(
            source, validation_split, seed, _check_decode, _tf_permutations, test_split
        )
        parts = {"train": train, "val": val, **({"test": test} if test is not None else {})}
        files = {split: list(paths) for split, (paths, _) in parts.items()}
        counts = {
            name: tuple(labels.count(i) for _, labels in parts.values())
            for i, name in enumerate(class_names)
        }
        if not train[0] or not val[0]:
            raise ValueError(
                f"Argument `source` holds no training or no validation images. Received: source={source!r}"
            )
        splits = {
            split: (
                tf.data.Dataset.from_tensor_slices((paths, labels)).map(
                    lambda p, y: (_decode(p), y), num_parallel_calls=AUTOTUNE
                ),
                len(paths),
            )
            for split, (paths, labels) in parts.items()
        }
    else:
        raise ValueError(
            "Argument `source` must be an existing folder or 'tfds:NAME[/CONFIG]'. "
            f"Received: source={source!r}"
        )

    if size is None:  # from the training files only; TFDS examples have no files: PHOTO_SIZE
        size = image_size_pair(size_from_files(files["train"]) if files else PHOTO_SIZE)
    resize = _resizer(size)
    cached = {
        split: dataset.map(resize, num_parallel_calls=AUTOTUNE).cache()
        for split, (dataset, _) in splits.items()
    }
    n = {split: count for split, (_, count) in splits.items()}

    def evaluation(split):
        batches = cached[split].batch(batch_size).map(_to_float, num_parallel_calls=AUTOTUNE)
        return batches.prefetch(AUTOTUNE)

    def training(seed):
        batches = cached["train"].shuffle(
            max(n["train"], 1), seed=seed, reshuffle_each_iteration=True
        )
        batches = batches.batch(batch_size).map(_to_float, num_parallel_calls=AUTOTUNE)
        if augment:
            layers = augmentation(seed)
            batches = batches.map(
                lambda x, y: (layers(x, training=True), y), num_parallel_calls=AUTOTUNE
            )
        return batches.prefetch(AUTOTUNE)

    train = training(seed)
    return ImageData(
        train=train,
        val=evaluation("val"),
        class_names=class_names,
        n_train=int(n["train"]),
        n_val=int(n["val"]),
        image_size=size,
        batch_size=batch_size,
        source=source,
        counts=counts,
        test=evaluation("test") if "test" in cached else None,
        n_test=int(n.get("test", 0)),
        train_eval=evaluation("train"),
        files=files,
        sweep=training(seed + 1),
    )
