"""Small real datasets that need no network, for recipes, benchmarks and tests.

- `load_idx(path)`: an array from an IDX file (LeCun's MNIST format), gzip or plain.
- `mnist_t10k(assets)`: the MNIST test set from the offline assets (10,000 28x28 digits).
- `digits()`: scikit-learn's 8x8 digits (1,797 images), shipped inside scikit-learn.
- `load(name, assets)`: either of the two, scaled to [0, 1].
- `split(x, y, test_fraction, seed)`: a stratified, seeded train/test split.
"""

import gzip
from pathlib import Path

import numpy as np

from kerasopt._validation import check_choice, check_range

__all__ = [
    "load_idx",
    "mnist_t10k",
    "digits",
    "load",
    "split",
]

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_idx(path):
    """Read an IDX file (optionally gzip-compressed) into a NumPy array.

    Example:
        An IDX file is a 4-byte magic number (0, 0, dtype code, rank), the sizes, then the values:

        >>> import struct, tempfile, numpy as np
        >>> from kerasopt.datasets import load_idx
        >>> path = tempfile.mkdtemp() + "/tiny-idx2-ubyte"
        >>> _ = open(path, "wb").write(bytes([0, 0, 0x08, 2]) + struct.pack(">II", 2, 3) + bytes(range(6)))
        >>> load_idx(path)
        array([[0, 1, 2],
               [3, 4, 5]], dtype=uint8)
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"Argument `path` must be an IDX file. Received: path={str(path)!r}")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, dtype=_IDX_DTYPES[data[2]], offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(
            f"IDX file {str(path)!r} is truncated: header says {shape}, found {array.size} values"
        )
    return array.reshape(shape)


def mnist_t10k(assets):
    """`(images uint8 (10000, 28, 28), labels uint8 (10000,))` from `assets/datasets/mnist_t10k`.

    Example:
        The assets are not part of the package; without them the call fails before reading:

        >>> from kerasopt.datasets import mnist_t10k
        >>> mnist_t10k(None)
        Traceback (most recent call last):
        ...
        ValueError: Argument `assets` must be the offline assets folder (../shared/assets or $KERASOPT_ASSETS). Received: assets=None
    """
    if assets is None:
        raise ValueError(
            "Argument `assets` must be the offline assets folder (../shared/assets or $KERASOPT_ASSETS). Received: assets=None"
        )
    folder = Path(assets) / "datasets" / "mnist_t10k"
    return load_idx(folder / "t10k-images-idx3-ubyte.gz"), load_idx(
        folder / "t10k-labels-idx1-ubyte.gz"
    )


def digits():
    """`(images float32 (1797, 8, 8) in [0, 16], labels int64)`: scikit-learn's digits.

    Example:
        >>> from kerasopt.datasets import digits
        >>> x, y = digits()
        >>> x.shape, x.dtype, float(x.max()), int(y.max())
        ((1797, 8, 8), dtype('float32'), 16.0, 9)
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images.astype("float32"), bunch.target


def load(name, assets=None):
    """`(images float32 in [0, 1], labels int64)` for `name` = "digits" (8x8, scikit-learn)
    or "mnist" (28x28, the MNIST test set from the offline `assets`).

    Example:
        >>> from kerasopt.datasets import load
        >>> x, y = load("digits")
        >>> float(x.min()), float(x.max()), y.dtype
        (0.0, 1.0, dtype('int64'))
    """
    check_choice("name", name, ("digits", "mnist"))
    if name == "digits":
        x, y = digits()
        return x / 16.0, y.astype("int64")
    if assets is None:
        raise ValueError(
            "Argument `assets` must be the offline assets folder (../shared/assets or $KERASOPT_ASSETS) "
            "for name='mnist'; use name='digits' without it. Received: assets=None"
        )
    x, y = mnist_t10k(assets)
    return x.astype("float32") / 255.0, y.astype("int64")


def split(x, y, test_fraction=0.2, seed=0):
    """Stratified split into `(x_train, y_train, x_test, y_test)`, reproducible by `seed`.

    Example:
        Every class keeps its share in the test part:

        >>> import numpy as np
        >>> from kerasopt.datasets import split
        >>> x, y = np.arange(20).reshape(10, 2), np.array([0] * 5 + [1] * 5)
        >>> x_train, y_train, x_test, y_test = split(x, y, test_fraction=0.4, seed=0)
        >>> np.bincount(y_test), np.bincount(y_train)
        (array([2, 2]), array([3, 3]))
    """
    check_range("test_fraction", test_fraction, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        test[idx[: int(round(test_fraction * len(idx)))]] = True
    return x[~test], y[~test], x[test], y[test]
