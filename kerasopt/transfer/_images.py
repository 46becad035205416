"""The class-folder conventions shared by both image pipelines, with no TensorFlow.

Used by `kerasopt.transfer.data` (tf.data) and `kerasopt.transfer.image_folder_sequence`
(Pillow + `keras.utils.PyDataset`), so a folder is read, checked and split the same way on
every Keras backend. Each pipeline passes its own full-decode check (`check_decode`) and may
pass its own random permutations for the validation split (`permutations`; default NumPy's);
a test split (`test_split`) is always drawn with NumPy's, so both pipelines give the same test
files for the same validation files and seed. Source: the checks of the module docstring of
`kerasopt.transfer.data` (files that are not images or do not decode are skipped with a
warning, hidden folders and empty classes ignored, train/, val/ and test/ class sets must
match, every class gives an image to every split).
"""

import dataclasses
import os
import warnings
from pathlib import Path

import keras
import numpy as np

from kerasopt._validation import check_int

_MAGIC = {b"\xff\xd8\xff": "jpeg", b"\x89PNG": "png", b"GIF8": "gif", b"BM": "bmp"}
VALIDATION_FOLDERS = ("val", "validation", "valid")


@dataclasses.dataclass
class ImageData:
    """Batched `train` and `val` pipelines of (float32 images in [0, 255], int labels).

    What `image_dataset` (tf.data) and `image_sequences` (Pillow + `keras.utils.PyDataset`)
    return: the two pipelines, the class names (label i is `class_names[i]`), the image
    counts, the image size and batch size, the source, and the images per class (`counts`:
    {class: (train, val[, test])}, folders only), shown by `count_table()`. With a test split
    (`test_split=...`): `test` and `n_test`. `train_eval`: the training images in file order,
    neither shuffled nor augmented (for feature caching); `files`: {split: file paths in the
    order of its pipeline} (folders); `sweep`: the training images shuffled and augmented like
    `train` but with their own seed (seed + 1), for the LR range test, so that `train`'s random
    stream does not depend on how far a sweep went (a resumed run then sees the batches an
    uninterrupted one saw).

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
        >>> three = image_sequences(root, image_size=8, validation_split=0.4, test_split=0.5)
        >>> print(three.count_table())  # 2 of 5 held out per class, 1 of them for test
        class   train     val    test
        ants        3       1       1
        bees        3       1       1
        total       6       2       2
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
    test: object = None
    n_test: int = 0
    train_eval: object = None
    files: dict = dataclasses.field(default_factory=dict)
    sweep: object = None

    def count_table(self):
        """Images per class and split as a text table (per class for folders; totals for TFDS)."""
        width = max([len("class"), len("total"), *(len(name) for name in self.counts)])
        splits = ["train", "val", *(["test"] if self.test is not None else [])]
        totals = [self.n_train, self.n_val, self.n_test][: len(splits)]
        lines = [f"{'class':<{width}}" + "".join(f"  {s:>6}" for s in splits)]
        lines += [
            f"{name:<{width}}" + "".join(f"  {n:>6}" for n in counts)
            for name, counts in self.counts.items()
        ]
        lines.append(f"{'total':<{width}}" + "".join(f"  {n:>6}" for n in totals))
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


def image_size_pair(image_size):
    """(height, width) from an int or a pair, each side an int >= 8; ValueError naming it."""
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2:
        raise ValueError(
            "Argument `image_size` must be an int or (height, width). "
            f"Received: image_size={image_size!r}"
        )
    for side in size:
        check_int("image_size", side, minimum=8)
    return size


def folder_paths(folder, class_names, check_decode):
    """(paths, labels) of the usable images in folder/CLASS/* for the given classes, in class
    order; what `image_folder` and `folder_sequence` read. ValueError naming the argument when
    the folder is missing or holds no image of those classes."""
    if not os.path.isdir(folder):
        raise ValueError(
            f"Argument `folder` must be an existing folder. Received: folder={os.fspath(folder)!r}"
        )
    class_names = list(class_names)
    found = list_images(folder, class_names, check_decode)
    paths = [path for name in class_names for path in found.get(name, [])]
    labels = [label for label, name in enumerate(class_names) for _ in found.get(name, [])]
    if not paths:
        raise ValueError(
            f"Argument `folder` must hold images in subfolders named {class_names}. "
            f"Received: folder={os.fspath(folder)!r}"
        )
    return paths, labels


def _flatten(found, class_names):
    paths = [p for name in class_names for p in found[name]]
    labels = [label for label, name in enumerate(class_names) for _ in found[name]]
    return paths, labels


def split_off(part, share, seed, permutations=None):
    """Split (paths, labels) per class: `share` of each class (rounded) to the second part.

    Each class's files are ordered by a random permutation, one generator for all classes in
    label order: `permutations(seed)` (a callable n -> permutation of range(n)), by default
    NumPy's `default_rng(seed).permutation`; the first round(share * n) go to the second part.
    Both parts keep file order.
    """
    paths, labels = part
    permutation = (permutations or _numpy_permutations)(seed)
    kept, taken = [], []
    for label in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == label]
        order = permutation(len(members))
        n_taken = round(share * len(members))
        taken += [members[i] for i in order[:n_taken]]
        kept += [members[i] for i in order[n_taken:]]
    pick = lambda idx: ([paths[i] for i in sorted(idx)], [labels[i] for i in sorted(idx)])  # noqa: E731
    return pick(kept), pick(taken)


def _numpy_permutations(seed):
    return np.random.default_rng(seed).permutation


def _check_shares(found, share, argument, what):
    """Every class gives at least one image to each side of a `share` split."""
    small = [f"{name!r} ({n})" for name, n in found.items() if round(share * n) in (0, n)]
    if small:
        raise ValueError(
            f"Each class needs at least one {what} image at {argument}={share}; too few images in "
            f"{', '.join(small)}. Add images, change the split, or give split folders"
        )


def folder_examples(root, validation_split, seed, check_decode, permutations=None, test_split=None):
    """((train paths, labels), (val paths, labels), (test paths, labels) or None, class names).

    The held-out images are the val/ (or validation/, valid/) folder beside train/, or
    `validation_split` of each class (`split_off` with `permutations`, default NumPy's). With
    `test_split`, a test/ folder beside train/ and val/ is the test set; otherwise `test_split`
    of each class of the held-out images becomes the test set (`split_off` with NumPy's
    permutations, seeded with `seed`). `check_decode` as in `list_images`.

    Raises ValueError when the split class sets differ (listing the difference), when there
    are fewer than two classes, or when a class is too small to give an image to every split.
    """
    root = Path(root)
    val_dir = next((root / d for d in VALIDATION_FOLDERS if (root / d).is_dir()), None)
    test_dir = root / "test" if (root / "test").is_dir() else None
    if (root / "train").is_dir() and val_dir is not None:
        named = {"train": root / "train", val_dir.name: val_dir}
        if test_split is not None and test_dir is not None:
            named["test"] = test_dir
        found = {
            split: list_images(folder, class_folders(folder), check_decode)
            for split, folder in named.items()
        }
        for split, images in found.items():
            if split != "train" and set(images) != set(found["train"]):
                only_train = sorted(set(found["train"]) - set(images))
                only_other = sorted(set(images) - set(found["train"]))
                raise ValueError(
                    f"The class folders of {str(root / 'train')!r} and {str(named[split])!r} (with usable images) must "
                    f"match. Only in train/: {only_train}; only in {split}/: {only_other}"
                )
        class_names = sorted(found["train"])
        _check_class_count(root, class_names)
        train = _flatten(found["train"], class_names)
        val = _flatten(found[val_dir.name], class_names)
        test = _flatten(found["test"], class_names) if "test" in found else None
    else:
        images = list_images(root, class_folders(root), check_decode)
        class_names = sorted(images)
        _check_class_count(root, class_names)
        _check_shares(
            {name: len(images[name]) for name in class_names},
            validation_split,
            "validation_split",
            "training and one validation",
        )
        paths, labels = _flatten(images, class_names)
        train, val = split_off((paths, labels), validation_split, seed, permutations)
        test = None
    if test_split is not None and test is None:
        _check_shares(
            {name: val[1].count(i) for i, name in enumerate(class_names)},
            test_split,
            "test_split",
            "validation and one test",
        )
        val, test = split_off(val, test_split, seed)
    return train, val, test, class_names


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
