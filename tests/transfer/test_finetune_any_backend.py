"""Off TensorFlow (CI's `KERAS_BACKEND=jax` run): `fine_tune` through the backend-neutral
pipeline (`image_sequences`), with no shared assets (weights=None, generated images), writes the
run folder the recipe documents; `configure_device`: XLA always on under JAX, one device."""

import json

import keras
import numpy as np
import pytest
from PIL import Image

from kerasopt.transfer import FineTuneStrategy, configure_device, fine_tune, image_sequences

pytestmark = [
    pytest.mark.portable,
    pytest.mark.skipif(
        keras.backend.backend() == "tensorflow",
        reason="the TensorFlow path (tf.data, tf.distribute) is tested in test_finetune.py",
    ),
]


def _images(root):
    """train/ 12 + 12 and val/ 4 + 4 noisy 40 px JPEGs, dark vs bright (val/ halved into
    validation and test by `test_split=0.5`)."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 12), ("val", 4)):
        for label, name in enumerate(("dark", "bright")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = np.clip(rng.normal(60 + 130 * label, 30, (40, 40, 3)), 0, 255)
                Image.fromarray(pixels.astype("uint8")).save(folder / f"{i}.jpg")
    return root


@pytest.mark.reference(
    "transfer.fine_tune",
    "transfer.FineTuneResult",
    "transfer.image_sequences",
    "transfer.ImageData",
    "transfer.train_scratch",
)
def test_fine_tune_on_image_sequences_writes_the_run_folder(tmp_path):
    keras.utils.set_random_seed(0)
    data = image_sequences(
        _images(tmp_path / "data"), image_size=32, batch_size=8, workers=2, test_split=0.5
    )
    plan = FineTuneStrategy("tiny", unfreeze_fraction=0.3, epochs_head=1, epochs_finetune=1)
    result = fine_tune(
        data,
        tmp_path / "run",
        backbone="mobilenet",
        strategy=plan,
        weights=None,
        alpha=0.25,
        verbose=0,
    )
    run = tmp_path / "run"
    for name in ("model.keras", "metrics.json", "training_curves.png", "confusion_matrix.png"):
        assert (run / name).is_file(), name
    assert (run / "saved_model").is_dir() == (keras.backend.backend() == "tensorflow")
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["n_train"], metrics["n_val"], metrics["n_test"]) == (24, 4, 4)
    assert metrics["test_split"] == "test"
    assert sum(m["support"] for m in metrics["test"]["per_class"].values()) == 4
    matrix = np.array(metrics["confusion_matrix"])  # from direct calls on data.val
    assert matrix.sum() == 4  # every validation image once
    assert np.trace(matrix) / 4 == pytest.approx(metrics["val_accuracy"])  # Keras' evaluate
    probs = result.model.predict(data.test, verbose=0)  # the test figures, recomputed
    assert metrics["test_accuracy"] == pytest.approx(
        np.mean(probs.argmax(-1) == data.test.labels), abs=1e-6
    )
    assert metrics["phases"]["scratch"]["xla"] == (keras.backend.backend() == "jax")
    images = np.concatenate([data.val[i][0] for i in range(len(data.val))])
    reloaded = keras.saving.load_model(run / "model.keras")
    np.testing.assert_allclose(
        reloaded.predict(images, verbose=0), result.model.predict(images, verbose=0), atol=1e-5
    )


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow",
    reason="the TensorFlow path is tested in test_finetune.py",
)
@pytest.mark.reference("transfer.configure_device", "transfer.DeviceSetup")
def test_configure_device_off_tensorflow():
    previous = keras.mixed_precision.global_policy()
    try:
        auto = configure_device()
        assert auto.jit_compile == (keras.backend.backend() == "jax")  # XLA always on under JAX
        gpu = auto.description.startswith("GPU")
        assert auto.mixed_precision == gpu
        assert keras.mixed_precision.global_policy().name == ("mixed_float16" if gpu else "float32")
        with auto.distribution.scope():  # one device: a scope that does nothing
            pass
        forced = configure_device(mixed_precision=True, xla=False)
        assert (
            forced.mixed_precision and keras.mixed_precision.global_policy().name == "mixed_float16"
        )
        with pytest.raises(ValueError, match="Argument `distribute` must be 'auto' or False"):
            configure_device(distribute=True)
    finally:
        keras.mixed_precision.set_global_policy(previous)
