"""Static shapes: `ImageFolderSequence(pad_last=True)` fills the last batch up to `batch_size` with
weight-0 images. Checked against the unpadded sequence on the same model: the weighted metrics
of `evaluate` and one epoch of SGD (a loss reduced by "mean_with_sample_weight") agree; uint8
batches hold the same values as float32 ones."""

import os

import keras
import numpy as np
import pytest
from PIL import Image

from kerasopt.transfer.image_folder_sequence import ImageFolderSequence, image_sequences

pytestmark = pytest.mark.portable


def _folder(root, per_class=5):
    rng = np.random.default_rng(0)
    for label, name in enumerate(("dark", "bright")):
        os.makedirs(root / name)
        for i in range(per_class):
            pixels = rng.integers(40 + 120 * label, 100 + 120 * label, (10, 10, 3), "uint8")
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def _paths(root):
    return [str(p) for p in sorted(root.rglob("*.png"))], [0] * 5 + [1] * 5


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(3, 3),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(reduction="mean_with_sample_weight"),
        weighted_metrics=["accuracy", keras.metrics.SparseCategoricalCrossentropy(name="xent")],
    )
    return model


def test_padded_last_batch_gives_the_unpadded_metrics_and_training_step(tmp_path):
    paths, labels = _paths(_folder(tmp_path))  # 10 images, batch 4: batches of 4, 4, 2
    plain = ImageFolderSequence(paths, labels, image_size=8, batch_size=4)
    padded = ImageFolderSequence(paths, labels, image_size=8, batch_size=4, pad_last=True)
    images, batch_labels, weights = padded[2]
    assert images.shape == (4, 8, 8, 3) and weights.tolist() == [1, 1, 0, 0]
    np.testing.assert_array_equal(images[:2], plain[2][0])
    model = _model()
    expected = model.evaluate(plain, verbose=0, return_dict=True)
    found = model.evaluate(padded, verbose=0, return_dict=True)
    for name in ("accuracy", "xent"):
        np.testing.assert_allclose(found[name], expected[name], rtol=1e-6)
    # one epoch of SGD over the same batches, fed as arrays in order (fit on a PyDataset is not
    # bit-reproducible on TensorFlow even unpadded): the padded epoch ends where the plain one does
    start = model.get_weights()
    x, y = (np.concatenate(part) for part in zip(*(plain[i] for i in range(3)), strict=True))
    model.fit(x, y, batch_size=4, shuffle=False, epochs=1, verbose=0)
    trained_plain = model.get_weights()
    model.set_weights(start)
    x, y, w = (np.concatenate(part) for part in zip(*(padded[i] for i in range(3)), strict=True))
    model.fit(x, y, sample_weight=w, batch_size=4, shuffle=False, epochs=1, verbose=0)
    for a, b in zip(model.get_weights(), trained_plain, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_uint8_batches_hold_the_float_values_and_refuse_host_augmentation(tmp_path):
    paths, labels = _paths(_folder(tmp_path))
    as_float = ImageFolderSequence(paths, labels, image_size=8, batch_size=3)
    as_bytes = ImageFolderSequence(paths, labels, image_size=8, batch_size=3, dtype="uint8")
    assert as_bytes[0][0].dtype == np.uint8
    np.testing.assert_array_equal(as_bytes[0][0].astype("float32"), as_float[0][0])
    with pytest.raises(ValueError, match="Argument `augment` must be None"):
        ImageFolderSequence(paths, labels, dtype="uint8", augment=lambda x, training: x)
    with pytest.raises(ValueError, match="dtype='float16'"):
        ImageFolderSequence(paths, labels, dtype="float16")


def test_in_step_sequences_are_uint8_padded_and_not_augmented_on_the_host(tmp_path):
    data = image_sequences(_folder(tmp_path), image_size=8, batch_size=3, in_step=True, workers=1)
    for sequence in (data.train, data.val, data.train_eval, data.sweep):
        images, _, weights = sequence[len(sequence) - 1]
        assert images.dtype == np.uint8 and images.shape[0] == 3 and sequence.augment is None
    assert sum(float(data.train[i][2].sum()) for i in range(len(data.train))) == data.n_train
