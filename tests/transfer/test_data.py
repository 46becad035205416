import shutil
import warnings
from collections import Counter

import numpy as np
import pytest
import tensorflow_datasets as tfds

from kerasopt.transfer import DataUnavailableError, image_dataset


def _labels(dataset):
    return np.concatenate([y.numpy() for _, y in dataset])


def test_hymenoptera_gif_and_space_in_name(hymenoptera):
    """Every file of the real folder is decoded (the GIF placeholder with a warning naming it,
    'ant photos.jpg' with its space): 124 + 121 train and 70 + 83 val images, no crash."""
    assert (hymenoptera / "train" / "ants" / "ant photos.jpg").exists()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = image_dataset(hymenoptera, image_size=32, batch_size=64, augment=False)
    messages = [str(w.message) for w in caught]
    assert any("imageNotFound.gif" in m for m in messages)
    assert data.class_names == ["ants", "bees"]
    assert Counter(_labels(data.train).tolist()) == {0: 124, 1: 121}
    assert Counter(_labels(data.val).tolist()) == {0: 70, 1: 83}
    images, _ = next(iter(data.val))
    assert images.shape[1:] == (32, 32, 3) and images.dtype == "float32"
    assert 0 <= float(np.min(images)) and float(np.max(images)) <= 255


def test_non_images_skipped_with_a_warning_and_split_per_class(small_folder, tmp_path):
    root = tmp_path / "flat"
    shutil.copytree(small_folder / "train", root)  # 24 + 24, no split folders
    (root / "ants" / "notes.txt").write_text("not an image")
    (root / "bees" / "broken.jpg").write_bytes(b"this is not a JPEG")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = image_dataset(root, image_size=32, batch_size=8, validation_split=0.25, seed=3)
    messages = " ".join(str(w.message) for w in caught)
    assert "notes.txt" in messages and "broken.jpg" in messages
    assert (data.n_train, data.n_val) == (36, 12)
    assert Counter(_labels(data.val).tolist()) == {0: 6, 1: 6}
    again = image_dataset(
        root, image_size=32, batch_size=8, validation_split=0.25, seed=3, augment=False
    )
    first = np.concatenate([x.numpy() for x, _ in data.val])
    np.testing.assert_array_equal(first, np.concatenate([x.numpy() for x, _ in again.val]))


def test_augmentation_changes_training_images_only(small_folder):
    plain = image_dataset(small_folder, image_size=32, batch_size=48, augment=False, seed=1)
    augmented = image_dataset(small_folder, image_size=32, batch_size=48, augment=True, seed=1)
    x0, y0 = next(iter(plain.train))
    x1, y1 = next(iter(augmented.train))
    np.testing.assert_array_equal(y0, y1)  # same seed, same shuffle order
    assert not np.array_equal(x0, x1)
    np.testing.assert_array_equal(next(iter(plain.val))[0], next(iter(augmented.val))[0])


def test_tfds_source_offline_with_mock_data(monkeypatch):
    from kerasopt.transfer import data as data_module

    monkeypatch.setattr(
        data_module, "_reachable", lambda *a: True
    )  # mock_data stands in for the download
    with tfds.testing.mock_data(num_examples=12):
        data = image_dataset("tfds:tf_flowers", image_size=40, batch_size=4)
        assert data.class_names == ["dandelion", "daisy", "tulips", "sunflowers", "roses"]
        images, labels = next(iter(data.train))
        assert images.shape == (4, 40, 40, 3) and labels.dtype == "int32"
        assert data.n_train == 12 and len(_labels(data.val)) == data.n_val


@pytest.mark.reference("transfer.DataUnavailableError")
def test_tfds_not_prepared_gives_a_clear_message(tmp_path, monkeypatch):
    """An empty TFDS data folder and a download that fails (network simulated away)."""
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))

    def no_network(self, *args, **kwargs):
        raise ConnectionError("network disabled for this test")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_network)
    with pytest.raises(
        DataUnavailableError, match="not prepared.*tfds build tf_flowers.*TFDS_DATA_DIR"
    ):
        image_dataset("tfds:tf_flowers", image_size=32)
    with pytest.raises(DataUnavailableError, match="no dataset"):
        image_dataset("tfds:no_such_dataset_xyz", image_size=32)


def test_argument_validation(small_folder, tmp_path):
    with pytest.raises(ValueError, match="Argument `source`"):
        image_dataset(tmp_path / "missing")
    with pytest.raises(ValueError, match="Argument `validation_split`"):
        image_dataset(small_folder, validation_split=1.0)
    with pytest.raises(ValueError, match="Argument `image_size`"):
        image_dataset(small_folder, image_size=(32, 32, 3))
    with pytest.raises(TypeError, match="Argument `batch_size`"):
        image_dataset(small_folder, batch_size=2.5)
    (tmp_path / "one" / "cls").mkdir(parents=True)
    with pytest.raises(ValueError, match="at least two class subfolders"):
        image_dataset(tmp_path / "one")


@pytest.mark.reference("transfer.image_folder")
def test_image_folder_reads_one_split_with_given_labels(small_folder):
    from kerasopt.transfer import image_folder

    data = image_dataset(small_folder, image_size=32, batch_size=8, augment=False)
    # class order is the caller's: reversed names give reversed labels
    test = image_folder(small_folder / "val", ["bees", "ants"], image_size=32, batch_size=8)
    assert Counter(_labels(test).tolist()) == {0: 16, 1: 16}
    labels_val = _labels(data.val)
    np.testing.assert_array_equal(np.sort(1 - _labels(test)), np.sort(labels_val))
    same = image_folder(small_folder / "val", data.class_names, image_size=32, batch_size=8)
    np.testing.assert_array_equal(
        np.concatenate([x.numpy() for x, _ in same]),
        np.concatenate([x.numpy() for x, _ in data.val]),
    )
    with pytest.raises(ValueError, match="Argument `folder` must be an existing folder"):
        image_folder(small_folder / "test", data.class_names)
    with pytest.raises(ValueError, match="Argument `folder` must hold images in subfolders named"):
        image_folder(small_folder / "val", ["wasps", "flies"])


# --- data checks before training: each case ends in its documented warning or error ---------


def _folder(root, layout, source):
    """Copy JPEGs from `source` into root/<rel>/ for each (rel, n) of `layout`."""
    photos = sorted(source.glob("*/*.jpg"))
    i = 0
    for rel, n in layout:
        (root / rel).mkdir(parents=True, exist_ok=True)
        for _ in range(n):
            shutil.copy(photos[i % len(photos)], root / rel / f"img{i:03d}.jpg")
            i += 1
    return root


def _warned(caught):
    return " ".join(str(w.message) for w in caught)


def test_truncated_jpeg_is_skipped_with_a_warning_naming_it(small_folder, tmp_path):
    root = _folder(
        tmp_path / "d",
        [("train/ants", 6), ("train/bees", 6), ("val/ants", 2), ("val/bees", 2)],
        small_folder / "train",
    )
    broken = root / "train" / "bees" / "img011.jpg"
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])  # magic bytes intact
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = image_dataset(root, image_size=32, batch_size=4, augment=False)
    assert str(broken) in _warned(caught) and "truncated or corrupt" in _warned(caught)
    assert data.counts == {"ants": (6, 2), "bees": (5, 2)}
    assert sum(1 for _ in data.train.unbatch()) == 11  # training never meets the broken file


def test_hidden_and_empty_class_folders_are_ignored_with_a_warning(small_folder, tmp_path):
    root = _folder(
        tmp_path / "d",
        [("ants", 5), ("bees", 5), (".ipynb_checkpoints", 2)],
        small_folder / "train",
    )
    (root / "empty").mkdir()
    (root / "only_text").mkdir()
    (root / "only_text" / "notes.txt").write_text("not an image")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = image_dataset(root, image_size=32, batch_size=4, validation_split=0.2)
    messages = _warned(caught)
    assert ".ipynb_checkpoints" in messages and "hidden" in messages
    assert str(root / "empty") in messages and str(root / "only_text") in messages
    assert data.class_names == ["ants", "bees"]  # 2 softmax outputs, both trained
    assert data.counts == {"ants": (4, 1), "bees": (4, 1)}


def test_mismatched_class_sets_list_the_difference(small_folder, tmp_path):
    root = _folder(
        tmp_path / "d",
        [("train/ants", 3), ("train/bees", 3), ("val/ants", 2), ("val/wasps", 2)],
        small_folder / "train",
    )
    with pytest.raises(ValueError, match=r"Only in train/: \['bees'\]; only in val/: \['wasps'\]"):
        image_dataset(root, image_size=32)


def test_an_extra_validation_class_is_an_error_not_dropped(small_folder, tmp_path):
    root = _folder(
        tmp_path / "d",
        [("train/ants", 3), ("train/bees", 3), ("val/ants", 2), ("val/bees", 2), ("val/wasps", 1)],
        small_folder / "train",
    )
    with pytest.raises(ValueError, match=r"Only in train/: \[\]; only in val/: \['wasps'\]"):
        image_dataset(root, image_size=32)


def test_a_one_image_class_is_refused_rather_than_validated_without_it(small_folder, tmp_path):
    """round(0.2 * 1) = 0 validation images: validation accuracy would ignore the class."""
    root = _folder(
        tmp_path / "d", [("ants", 10), ("bees", 10), ("wasps", 1)], small_folder / "train"
    )
    with pytest.raises(ValueError, match=r"too few images in 'wasps' \(1\)"):
        image_dataset(root, image_size=32, validation_split=0.2)


def test_count_table(small_folder):
    data = image_dataset(small_folder, image_size=32, batch_size=8)
    assert data.count_table().splitlines() == [
        "class   train     val",
        "ants       24      16",
        "bees       24      16",
        "total      48      32",
    ]


def test_tfds_offline_fails_fast_and_leaves_no_folder(tmp_path, monkeypatch):
    """One connection check (here: refused), no download attempt, no empty tf_flowers/ folder."""
    from kerasopt.transfer import data as data_module

    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    checks = []
    monkeypatch.setattr(data_module, "_reachable", lambda *a: checks.append(a) or False)

    def download(self, *args, **kwargs):
        raise AssertionError("no download may be tried offline")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", download)
    with pytest.raises(DataUnavailableError, match="not prepared.*no connection"):
        image_dataset("tfds:tf_flowers", image_size=32)
    assert len(checks) == 1  # one connection check; the stubbed download proves no retry loop ran
    assert list(tmp_path.iterdir()) == []
