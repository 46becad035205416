"""The class-folder conventions shared by both image pipelines, with no TensorFlow.

Used by `kerasopt.transfer.data` (tf.data) and `kerasopt.transfer.image_folder_sequence`
(Pillow + `keras.utils.PyDataset`), so a folder is read, checked and split the same way on
every Keras backend. Each pipeline passes its own full-decode check (`check_decode`); the
split is drawn by the caller's `split_paths`. Source: the checks of the module docstring of
`kerasopt.transfer.data` (files that are not images or do not decode are skipped with a
warning, hidden folders and empty classes ignored, train/ and val/ class sets must match).
"""

import dataclasses
import warnings
from pathlib import Path

import keras

_MAGIC = {b"\xff\xd8\xff": "jpeg", b"\x89PNG": "png", b"GIF8": "gif", b"BM": "bmp"}
VALIDATION_FOLDERS = ("val", "validation", "valid")


@dataclasses.dataclass
class ImageData:
    """Batched `train` and `val` pipelines of (float32 images in [0, 255], int labels).

    What `image_dataset` (tf.data) and `image_sequences` (Pillow + `keras.utils.PyDataset`)
    return: the two pipelines, the class names (label i is `class_names[i]`), the image
    counts, the image size and batch size, the source, and the images per class (`counts`:
    {class: (train, val)}, folders only), shown by `count_table()`.

    Example:
        >>> import os, tempfile, numpy as np
        >>> from PIL import Image
        >>> from kerasopt.transfer import image_sequences
        >>> root = tempfile.mkdtemp()
        >>> for name in ("ants", "bees"):
        ...     os.makedirs(os.path.join(root, name))
        ...     for i in range(5):
        ...         Image.new("RGB", (12, 12), (40 * i,) * 3).save(os.path.join(root, name, f"{i}.png"))
        >>> data = image_sequences(root, image_size=8, batch_size=4)
        >>> print(data.count_table())  # validation_split=0.2 holds out 1 of each class's 5 images
        class   train     val
        ants        4       1
        bees        4       1
        total       8       2
    """

    train: object
    val: object
    class_names: list
    n_train: int
    n_val: int
    image_size: tuple
    batch_size: int
    source: str
    counts: dict = dataclasses.field(default_factory=dict)

    def count_table(self):
        """Images per class and split as a text table (per class for folders; totals for TFDS)."""
        width = max([len("class"), len("total"), *(len(name) for name in self.counts)])
        lines = [f"{'class':<{width}}  {'train':>6}  {'val':>6}"]
        lines += [
            f"{name:<{width}}  {n_train:>6}  {n_val:>6}"
            for name, (n_train, n_val) in self.counts.items()
        ]
        lines.append(f"{'total':<{width}}  {self.n_train:>6}  {self.n_val:>6}")
        return "\n".join(lines)


def image_format(path):
    """ "jpeg", "png", "gif", "bmp" from the file's first bytes, or None."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return next((fmt for magic, fmt in _MAGIC.items() if head.startswith(magic)), None)


def class_folders(folder):
    """Names of the class subfolders of `folder`; hidden ones (".name") are ignored with a warning."""
    names = []
    for path in sorted(Path(folder).iterdir()):
        if not path.is_dir():
            continue
        if path.name.startswith("."):
            warnings.warn(f"Ignoring hidden folder {path}: not a class.", stacklevel=4)
            continue
        names.append(path.name)
    return names


def list_images(folder, class_names, check_decode):
    """{class: paths} of the decodable images in folder/CLASS/*, one warning per skipped file.

    `check_decode(paths)` returns the paths among `paths` that fail a full decode.
    """
    found = {}
    for name in class_names:
        class_dir = Path(folder) / name
        files = (
            sorted(p for p in class_dir.iterdir() if p.is_file() and not p.name.startswith("."))
            if class_dir.is_dir()
            else []
        )
        paths = []
        for path in files:
            fmt = image_format(path)
            if fmt is None:
                warnings.warn(f"Skipping {path}: not a JPEG, PNG, GIF or BMP image.", stacklevel=4)
                continue
            if fmt == "gif":
                warnings.warn(f"Decoding the first frame of GIF file {path}.", stacklevel=4)
            paths.append(str(path))
        found[name] = paths
    bad = set(check_decode([p for paths in found.values() for p in paths]))
    for path in sorted(bad):
        warnings.warn(
            f"Skipping {path}: the image is truncated or corrupt (it does not decode).",
            stacklevel=4,
        )
    found = {name: [p for p in paths if p not in bad] for name, paths in found.items()}
    for name, paths in found.items():
        if not paths:
            warnings.warn(
                f"Ignoring class folder {Path(folder) / name}: it holds no usable image.",
                stacklevel=4,
            )
    return {name: paths for name, paths in found.items() if paths}


def _flatten(found, class_names):
    paths = [p for name in class_names for p in found[name]]
    labels = [label for label, name in enumerate(class_names) for _ in found[name]]
    return paths, labels


def folder_examples(root, validation_split, seed, check_decode, split_paths):
    """((train paths, labels), (val paths, labels), class names) from a folder.

    `check_decode` as in `list_images`; `split_paths(paths, labels, validation_split, seed)`
    draws the per-class split of a folder without train/ and val/.

    Raises ValueError when the train and validation class sets differ (listing the
    difference), when there are fewer than two classes, or when a class is too small to give
    both a training and a validation image at `validation_split`.
    """
    root = Path(root)
    val_dir = next((root / d for d in VALIDATION_FOLDERS if (root / d).is_dir()), None)
    if (root / "train").is_dir() and val_dir is not None:
        train = list_images(root / "train", class_folders(root / "train"), check_decode)
        val = list_images(val_dir, class_folders(val_dir), check_decode)
        if set(train) != set(val):
            only_train, only_val = sorted(set(train) - set(val)), sorted(set(val) - set(train))
            raise ValueError(
                f"The class folders of {str(root / 'train')!r} and {str(val_dir)!r} (with usable images) must "
                f"match. Only in train/: {only_train}; only in {val_dir.name}/: {only_val}"
            )
        class_names = sorted(train)
        _check_class_count(root, class_names)
        return _flatten(train, class_names), _flatten(val, class_names), class_names
    found = list_images(root, class_folders(root), check_decode)
    class_names = sorted(found)
    _check_class_count(root, class_names)
    small = [
        f"{name!r} ({len(found[name])})"
        for name in class_names
        if round(validation_split * len(found[name])) in (0, len(found[name]))
    ]
    if small:
        raise ValueError(
            f"Each class needs at least one training and one validation image at validation_split="
            f"{validation_split}; too few images in {', '.join(small)}. Add images, change the split, or "
            "give train/ and val/ folders"
        )
    paths, labels = _flatten(found, class_names)
    train, val = split_paths(paths, labels, validation_split, seed)
    return train, val, class_names


def _check_class_count(root, class_names):
    if len(class_names) < 2:
        raise ValueError(
            "Argument `source` must be a folder with at least two class subfolders holding images "
            f"(optionally inside train/ and val/). Received: source={str(root)!r} with classes {class_names}"
        )


def augmentation(seed=None):
    """The training-time augmentation: random horizontal flip, rotation (+-18 deg) and zoom (+-10%).

    A `keras.Sequential` of Keras' random preprocessing layers (reflected borders), active
    only with `training=True`; `seed` makes the draws reproducible.

    Example:
        >>> import numpy as np
        >>> from kerasopt.transfer import augmentation
        >>> layers = augmentation(seed=0)
        >>> [type(layer).__name__ for layer in layers.layers]
        ['RandomFlip', 'RandomRotation', 'RandomZoom']
        >>> images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
        >>> bool(np.array_equal(layers(images, training=False), images))  # inference: unchanged
        True
        >>> flat = np.full((2, 16, 16, 3), 7.0, "float32")  # flips, turns and zooms of a flat image are flat
        >>> out = np.asarray(layers(flat, training=True))
        >>> out.shape, bool(np.allclose(out, 7.0, atol=1e-3))
        ((2, 16, 16, 3), True)
    """
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(0.05, fill_mode="reflect", seed=seed),
            keras.layers.RandomZoom(0.1, fill_mode="reflect", seed=seed),
        ],
        name="augmentation",
    )
