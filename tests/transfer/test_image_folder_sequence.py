"""The backend-neutral image pipeline (Pillow + keras.utils.PyDataset): pixels against Pillow
and closed forms, per-epoch shuffling, the folder conventions the tf.data pipeline documents,
argument validation, and `model.fit` on it. Runs on every backend (no TensorFlow)."""

import os
import warnings
from collections import Counter

import keras
import numpy as np
import pytest
from PIL import Image

from kerasopt.transfer import ImageFolderSequence, augmentation, folder_sequence, image_sequences

pytestmark = pytest.mark.portable


def _folder(root, counts, size=(12, 10), split=None):
    """Class folders of flat-coloured PNGs; image i of class c has red = 20 * i + c."""
    paths = {}
    for label, (name, count) in enumerate(counts.items()):
        folder = root / split / name if split else root / name
        folder.mkdir(parents=True)
        paths[name] = []
        for i in range(count):
            path = folder / f"{i:02d}.png"
            Image.new("RGB", size, (20 * i + label, 7, 200)).save(path)
            paths[name].append(path)
    return paths


@pytest.mark.reference("transfer.ImageFolderSequence")
def test_pixels_equal_pillow_at_the_target_size(tmp_path):
    """No resize needed: the batch is exactly Pillow's decoded array, as float32."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (5, 16, 12, 3), dtype="uint8")
    paths = []
    for i, image in enumerate(pixels):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(image).save(paths[-1])
    sequence = ImageFolderSequence(paths, range(5), image_size=(16, 12), batch_size=5)
    images, labels = sequence[0]
    assert images.dtype == np.float32 and labels.dtype == np.int32
    np.testing.assert_array_equal(images, pixels.astype("float32"))
    np.testing.assert_array_equal(labels, np.arange(5))


def test_resize_keeps_a_flat_image_flat_and_reads_gif_and_grayscale(tmp_path):
    Image.new("L", (40, 30), 90).save(tmp_path / "gray.png")
    Image.new("P", (9, 9), 0).save(tmp_path / "first.gif")  # palette image: colour 0 is black
    Image.new("RGB", (50, 70), (10, 120, 250)).save(tmp_path / "big.jpg", quality=100)
    paths = [tmp_path / n for n in ("gray.png", "first.gif", "big.jpg")]
    images, _ = ImageFolderSequence(paths, [0, 1, 0], image_size=8, batch_size=3)[0]
    assert images.shape == (3, 8, 8, 3)
    np.testing.assert_array_equal(images[0], np.full((8, 8, 3), 90.0))
    np.testing.assert_array_equal(images[1], np.zeros((8, 8, 3)))
    np.testing.assert_allclose(images[2], np.broadcast_to([10, 120, 250], (8, 8, 3)), atol=2)


def test_shuffle_draws_a_new_permutation_every_epoch_and_repeats_with_the_seed(tmp_path):
    paths = [p for ps in _folder(tmp_path, {"a": 10, "b": 7}).values() for p in ps]
    labels = [0] * 10 + [1] * 7

    def epochs(seed, n=3):
        sequence = ImageFolderSequence(paths, labels, 8, batch_size=4, shuffle=True, seed=seed)
        orders = []
        for _ in range(n):
            reds = np.concatenate([sequence[i][0][:, 0, 0, 0] for i in range(len(sequence))])
            orders.append(reds.tolist())
            sequence.on_epoch_end()
        return orders

    first = epochs(seed=3)
    expected = sorted([20.0 * i for i in range(10)] + [20.0 * i + 1 for i in range(7)])
    assert all(sorted(order) == expected for order in first)  # every image once per epoch
    assert len({tuple(order) for order in first}) == 3  # a new order every epoch
    assert first == epochs(seed=3) and first != epochs(seed=4)
    plain = ImageFolderSequence(paths, labels, 8, batch_size=4)
    assert np.concatenate([plain[i][1] for i in range(len(plain))]).tolist() == labels


def test_batches_count_and_drop_remainder(tmp_path):
    paths = [p for ps in _folder(tmp_path, {"a": 11}).values() for p in ps]
    assert len(ImageFolderSequence(paths, [0] * 11, 8, batch_size=4)) == 3
    dropped = ImageFolderSequence(paths, [0] * 11, 8, batch_size=4, drop_remainder=True)
    assert len(dropped) == 2 and dropped[1][0].shape[0] == 4
    with pytest.raises(IndexError):
        dropped[2]


def test_cache_off_and_on_give_the_same_batches(tmp_path):
    paths = [p for ps in _folder(tmp_path, {"a": 6}).values() for p in ps]
    cached = ImageFolderSequence(paths, [0] * 6, 8, batch_size=6)
    uncached = ImageFolderSequence(paths, [0] * 6, 8, batch_size=6, cache=False)
    np.testing.assert_array_equal(cached[0][0], uncached[0][0])
    np.testing.assert_array_equal(cached[0][0], cached[0][0])  # second read: from the cache


@pytest.mark.reference("transfer.image_sequences")
def test_folder_conventions_match_the_tf_data_pipeline(tmp_path):
    """The checks documented for `image_dataset`: non-images and truncated files skipped with
    a warning naming them, hidden folders ignored with a warning, a per-class split."""
    _folder(tmp_path, {"ants": 24, "bees": 24})
    (tmp_path / "ants" / "notes.txt").write_text("not an image")
    good = tmp_path / "bees" / "00.png"
    full = tmp_path / "bees" / "full.jpg"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(full)
    (tmp_path / "bees" / "cut.jpg").write_bytes(full.read_bytes()[:200])  # truncated JPEG
    full.unlink()
    (tmp_path / ".ipynb_checkpoints").mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = image_sequences(tmp_path, image_size=8, batch_size=8, validation_split=0.25)
    messages = " ".join(str(w.message) for w in caught)
    assert "notes.txt" in messages and "cut.jpg" in messages and ".ipynb_checkpoints" in messages
    assert good.exists() and data.class_names == ["ants", "bees"]
    assert (data.n_train, data.n_val) == (36, 12) and data.counts == {
        "ants": (18, 6),
        "bees": (18, 6),
    }
    train = set(data.train.paths)
    assert not train & set(data.val.paths) and len(train) == 36


def test_train_and_val_folders_must_have_the_same_classes(tmp_path):
    _folder(tmp_path, {"ants": 3, "bees": 3}, split="train")
    _folder(tmp_path, {"ants": 3, "wasps": 3}, split="val")
    with pytest.raises(ValueError, match=r"Only in train/: \['bees'\]; only in val/: \['wasps'\]"):
        image_sequences(tmp_path)


def test_hymenoptera_counts(hymenoptera):
    """The asset README's counts: train 124 ants + 121 bees, val 70 + 83 (the GIF decoded)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = image_sequences(hymenoptera, image_size=32, augment=False)
    assert any("imageNotFound.gif" in str(w.message) for w in caught)
    assert Counter(data.train.labels.tolist()) == {0: 124, 1: 121}
    assert Counter(data.val.labels.tolist()) == {0: 70, 1: 83}


def test_augmentation_changes_training_batches_only(tmp_path):
    _folder(tmp_path, {"a": 4, "b": 4}, size=(16, 16), split="train")
    _folder(tmp_path, {"a": 2, "b": 2}, size=(16, 16), split="val")
    for path in (tmp_path / "train").rglob("*.png"):  # a gradient, so a flip changes it
        Image.fromarray(np.tile(np.arange(16, dtype="uint8")[None, :, None] * 15, (16, 1, 3))).save(
            path
        )
    plain = image_sequences(tmp_path, image_size=16, batch_size=8, augment=False, seed=1)
    augmented = image_sequences(tmp_path, image_size=16, batch_size=8, augment=True, seed=1)
    (x0, y0), (x1, y1) = plain.train[0], augmented.train[0]
    np.testing.assert_array_equal(y0, y1)  # same seed, same order
    assert not np.array_equal(x0, x1)
    np.testing.assert_array_equal(plain.val[0][0], augmented.val[0][0])


def test_worker_threads_give_the_batches_of_a_single_thread(tmp_path):
    paths = [p for ps in _folder(tmp_path, {"a": 9, "b": 9}).values() for p in ps]
    labels = [0] * 9 + [1] * 9
    one = ImageFolderSequence(paths, labels, 8, batch_size=4, shuffle=True, seed=2)
    four = ImageFolderSequence(paths, labels, 8, batch_size=4, shuffle=True, seed=2, workers=4)
    layer = augmentation(seed=0)
    assert ImageFolderSequence(paths, labels, 8, augment=layer, workers=4).augment.built
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(four.__getitem__, range(len(four))))
    for index, (images, batch_labels) in enumerate(threaded):
        np.testing.assert_array_equal(images, one[index][0])
        np.testing.assert_array_equal(batch_labels, one[index][1])


def test_fit_and_evaluate_take_the_sequences(tmp_path):
    """A linear model learns the red channel's class difference (dark vs bright)."""
    for name, red in (("dark", 30), ("bright", 220)):
        for split, count in (("train", 12), ("val", 4)):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                Image.new("RGB", (10, 10), (red + i, 0, 0)).save(folder / f"{i}.png")
    data = image_sequences(tmp_path, image_size=8, batch_size=6, augment=False, workers=2)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    history = model.fit(data.train, epochs=15, verbose=0)
    assert len(history.history["loss"]) == 15
    _, accuracy = model.evaluate(data.val, verbose=0)
    assert accuracy == 1.0


@pytest.mark.reference("transfer.folder_sequence")
def test_folder_sequence_in_class_order(tmp_path):
    _folder(tmp_path, {"ants": 2, "bees": 3, "wasps": 1})
    sequence = folder_sequence(tmp_path, ["bees", "ants"], image_size=8, batch_size=16)
    assert sequence[0][1].tolist() == [0, 0, 0, 1, 1]  # wasps not named: ignored
    with pytest.raises(ValueError, match="Argument `folder` must hold images"):
        folder_sequence(tmp_path, ["moths"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"labels": [0]},
            "Argument `labels` must have one label per path (2). Received: labels=[0]",
        ),
        ({"batch_size": 0}, "Argument `batch_size` must be"),
        ({"image_size": (8, 8, 3)}, "Argument `image_size` must be an int or (height, width)"),
        ({"image_size": 4}, "Argument `image_size` must be"),
        ({"drop_remainder": True, "batch_size": 3}, "Argument `batch_size` must be at most the 2"),
        (
            {"augment": "flip"},
            "Argument `augment` must be None or callable. Received: augment='flip'",
        ),
    ],
)
def test_sequence_argument_validation(tmp_path, kwargs, message):
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    arguments = {"paths": paths, "labels": [0, 1], **kwargs}
    with pytest.raises((ValueError, TypeError)) as error:
        ImageFolderSequence(**arguments)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"validation_split": 1.5},
            "Argument `validation_split` must be in (0, 1). Received: validation_split=1.5",
        ),
        ({"seed": -1}, "Argument `seed` must be"),
        ({"augment": 1}, "Argument `augment` must be True or False"),
        ({"workers": 0}, "Argument `workers` must be"),
        ({"source": "tfds:tf_flowers"}, "TFDS names need the tf.data pipeline"),
    ],
)
def test_image_sequences_argument_validation(tmp_path, kwargs, message):
    arguments = {"source": os.fspath(tmp_path), **kwargs}
    with pytest.raises((ValueError, TypeError)) as error:
        image_sequences(**arguments)
    assert message in str(error.value)


def test_test_split_gives_three_disjoint_stratified_splits(tmp_path):
    """`test_split` as `image_dataset` documents it: each class's held-out images split again,
    the three splits disjoint and covering the folder; a test/ folder is the test set."""
    paths = _folder(tmp_path / "flat", {"ants": 12, "bees": 8})
    data = image_sequences(
        tmp_path / "flat", image_size=8, validation_split=0.5, test_split=0.5, seed=2
    )
    files = {split: set(found) for split, found in data.files.items()}
    assert set(files) == {"train", "val", "test"}
    assert not (files["train"] & files["val"] or files["train"] & files["test"])
    assert not files["val"] & files["test"]
    assert files["train"] | files["val"] | files["test"] == {
        str(p) for found in paths.values() for p in found
    }
    # round(0.5 * 12) = 6 ants held out, 3 of them for test; bees 4, 2 of them
    assert data.counts == {"ants": (6, 3, 3), "bees": (4, 2, 2)}
    assert (data.n_train, data.n_val, data.n_test) == (10, 5, 5)
    assert data.count_table().splitlines()[0].split() == ["class", "train", "val", "test"]
    for split, sequence in (("val", data.val), ("test", data.test)):
        assert sequence.paths == data.files[split]  # the files, in pipeline order
        assert Counter(sequence.labels.tolist()) == Counter(
            0 if "/ants/" in p else 1 for p in data.files[split]
        )
    # not shuffled nor augmented: train_eval reads the training files in order, exactly
    assert data.train_eval.paths == data.files["train"] and data.train_eval.augment is None
    assert sorted(data.sweep.paths) == sorted(data.train.paths)
    with pytest.raises(ValueError, match=r"one validation and one test image at test_split=0.5"):
        image_sequences(tmp_path / "flat", validation_split=0.1, test_split=0.5)
    for split, count in (("train", 3), ("val", 2), ("test", 1)):
        _folder(tmp_path / "split", {"ants": count, "bees": count}, split=split)
    folders = image_sequences(tmp_path / "split", image_size=8, test_split=0.5)
    assert folders.counts == {"ants": (3, 2, 1), "bees": (3, 2, 1)}  # test/ kept whole
    assert all("/test/" in p for p in folders.files["test"])
    assert image_sequences(tmp_path / "split", image_size=8).test is None  # no test_split
