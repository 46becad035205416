"""The IDX reader against hand-built files, the real MNIST test set, and the split."""

import gzip

import numpy as np
import pytest

from kerasopt import datasets

pytestmark = pytest.mark.portable  # NumPy only: CI runs these on the JAX backend too


def _idx_bytes(array, code):
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    return header + array.tobytes()


@pytest.mark.reference("datasets.load_idx")
def test_load_idx_roundtrip(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.idx").write_bytes(_idx_bytes(a, 0x08))
    np.testing.assert_array_equal(datasets.load_idx(tmp_path / "a.idx"), a)
    b = np.arange(6, dtype=">i4").reshape(6)
    with gzip.open(tmp_path / "b.idx.gz", "wb") as f:
        f.write(_idx_bytes(b, 0x0C))
    np.testing.assert_array_equal(datasets.load_idx(tmp_path / "b.idx.gz"), b)


def test_load_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x89PNG....")
    with pytest.raises(ValueError, match="must be an IDX file"):
        datasets.load_idx(tmp_path / "bad")
    a = np.zeros((3, 3), np.uint8)
    (tmp_path / "short").write_bytes(_idx_bytes(a, 0x08)[:-2])
    with pytest.raises(ValueError, match="truncated"):
        datasets.load_idx(tmp_path / "short")


@pytest.mark.reference("datasets.mnist_t10k")
def test_mnist_t10k(assets):
    x, y = datasets.mnist_t10k(assets)
    assert x.shape == (10000, 28, 28) and y.shape == (10000,)
    assert x.dtype == np.uint8 and set(np.unique(y)) == set(range(10))
    # the published MNIST test set has 980 zeros and 1135 ones
    assert (y == 0).sum() == 980 and (y == 1).sum() == 1135


@pytest.mark.reference("datasets.split")
def test_split_is_stratified_and_seeded():
    x, y = datasets.digits()
    xtr, ytr, xte, yte = datasets.split(x, y, 0.25, seed=3)
    assert len(xtr) + len(xte) == len(x)
    for label in range(10):
        assert abs((yte == label).sum() - 0.25 * (y == label).sum()) <= 1
    again = datasets.split(x, y, 0.25, seed=3)
    np.testing.assert_array_equal(again[3], yte)
    with pytest.raises(ValueError, match="Received: test_fraction=1.5"):
        datasets.split(x, y, 1.5)


@pytest.mark.reference("datasets.load")
def test_load_scales_to_unit_interval(assets):
    x, y = datasets.load("digits")
    raw, labels = datasets.digits()
    np.testing.assert_array_equal(x * 16.0, raw)
    assert y.dtype == np.int64 and x.max() == 1.0 and x.min() == 0.0
    np.testing.assert_array_equal(y, labels)
    images, labels = datasets.load("mnist", assets)
    raw, raw_labels = datasets.mnist_t10k(assets)
    np.testing.assert_allclose(images * 255.0, raw, atol=1e-4)
    np.testing.assert_array_equal(labels, raw_labels)


def test_load_names_missing_assets_and_bad_names():
    with pytest.raises(ValueError, match="Received: assets=None"):
        datasets.load("mnist", None)
    with pytest.raises(ValueError, match="Received: name='cifar'"):
        datasets.load("cifar")


@pytest.mark.reference("datasets.digits")
def test_digits_are_scikit_learns():
    from sklearn.datasets import load_digits

    x, y = datasets.digits()
    reference = load_digits()
    assert x.dtype == np.float32 and x.shape == (1797, 8, 8)
    np.testing.assert_array_equal(x, reference.images)
    np.testing.assert_array_equal(y, reference.target)
