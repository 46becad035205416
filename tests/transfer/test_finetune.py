"""The two-phase procedure end to end: MobileNet(alpha=0.25) ImageNet weights from the offline
Keras cache on ants vs bees (245 training, 153 validation photos) at 96 px. (A logistic
regression on these frozen features reaches about 0.75 validation accuracy: small, low-resolution
features; the test asks for well above chance, not for a good classifier.)"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.transfer import (
    FineTuneStrategy,
    backbone,
    build_classifier,
    configure_device,
    fine_tune,
    image_dataset,
    train_scratch,
)
from kerasopt.transfer import phases as phases_module

ROOT = Path(__file__).resolve().parents[2]
STRATEGY = FineTuneStrategy(
    "test", unfreeze_fraction=0.3, epochs_head=6, epochs_finetune=1, head_learning_rate=3e-3
)


class _Snapshots(keras.callbacks.Callback):
    """Every weight of the model, by path, when phase 2 begins and when it ends."""

    def on_train_begin(self, logs=None):
        self.begin = {v.path: v.numpy().copy() for v in self.model.weights}

    def on_train_end(self, logs=None):
        self.end = {v.path: v.numpy().copy() for v in self.model.weights}


@pytest.fixture(scope="module")
def run(hymenoptera, keras_home, tmp_path_factory):
    keras.utils.set_random_seed(0)
    data = image_dataset(hymenoptera, image_size=96, batch_size=16, seed=0)
    snapshots = _Snapshots()
    cached = []  # phase 2's cached activations (their split's top is what trained)
    real = phases_module.cache_activations

    def spy(*args, **kwargs):
        cached.append(real(*args, **kwargs))
        return cached[-1]

    phases_module.cache_activations = spy
    try:
        result = fine_tune(
            data,
            tmp_path_factory.mktemp("run"),
            backbone="mobilenet",
            strategy=STRATEGY,
            alpha=0.25,
            patience=10,
            finetune_callbacks=[snapshots],
            verbose=0,
        )
    finally:
        phases_module.cache_activations = real
    imagenet = backbone("mobilenet", input_shape=(96, 96, 3), alpha=0.25)
    return result, data, snapshots, imagenet, cached


@pytest.mark.reference(
    "transfer.fine_tune",
    "transfer.FineTuneResult",
    "transfer.image_dataset",
    "transfer.ImageData",
)
def test_head_phase_lifts_accuracy_well_above_chance(run):
    """153 validation images (70 ants, 83 bees): the majority class gives 0.54, and a classifier
    unrelated to the labels reaches >= 0.65 with probability P(Bin(153, 1/2) >= 100) < 1e-4."""
    result, *_ = run
    assert result.metrics["phases"]["head"]["val_accuracy"] >= 0.65


@pytest.mark.reference("transfer.train_head", "transfer.backbone")
def test_phase1_leaves_every_backbone_weight_bit_identical(run):
    """At the start of phase 2 the backbone (kernels and every BatchNormalization gamma, beta,
    moving mean and moving variance) still holds exactly the ImageNet file's values."""
    _, _, snapshots, imagenet, _ = run
    assert len(imagenet.weights) > 100
    for v in imagenet.weights:
        np.testing.assert_array_equal(snapshots.begin[v.path], v.numpy(), err_msg=v.path)


@pytest.mark.reference("transfer.train_finetune")
def test_phase2_keeps_batchnorm_and_lower_layers_and_trains_the_top(run):
    result, _, snapshots, imagenet, _ = run
    base = result.backbone
    assert result.model.get_layer("backbone").layer is base
    cut = len(base.layers) - round(STRATEGY.unfreeze_fraction * len(base.layers))
    changed = []
    for index, layer in enumerate(base.layers):
        for v in layer.weights:
            same = np.array_equal(snapshots.begin[v.path], snapshots.end[v.path])
            if isinstance(layer, keras.layers.BatchNormalization) or index < cut:
                assert same, v.path
            else:
                changed.append(not same)
    assert changed and all(changed)
    assert result.metrics["phases"]["finetune"]["unfrozen_layers"] == sum(
        1
        for layer in base.layers[cut:]
        if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)
    )


def test_run_folder(run):
    result, data, *_ = run
    folder = result.run_dir
    for name in (
        "model.keras",
        "metrics.json",
        "class_names.json",
        "log.csv",
        "training_curves.png",
        "confusion_matrix.png",
    ):
        assert (folder / name).is_file(), name
    for png in ("training_curves.png", "confusion_matrix.png"):
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (folder / "saved_model" / "saved_model.pb").is_file()
    assert (folder / "tensorboard").is_dir() and (folder / "checkpoints" / "head.keras").is_file()
    assert not list(
        folder.parent.glob(f"{folder.name}.*")
    )  # published: no staging, state or old run left
    metrics = json.loads((folder / "metrics.json").read_text())
    assert json.loads((folder / "class_names.json").read_text()) == ["ants", "bees"]
    recorded = {
        "val_accuracy",
        "val_loss",
        "epochs",
        "seconds",
        "images_per_second",
        "device",
    }  # per phase
    for phase in ("head", "finetune"):
        m = metrics["phases"][phase]
        assert recorded <= set(m)
        assert m["images_per_second"] > 0 and m["device"].startswith(("CPU", "GPU"))
    assert metrics["phases"]["head"]["epochs"] + metrics["phases"]["finetune"]["epochs"] == len(
        metrics["history"]["loss"]
    )
    # The confusion matrix counts every validation image; its diagonal is the accuracy.
    cm = np.array(metrics["confusion_matrix"])
    assert cm.sum() == data.n_val == 153
    np.testing.assert_allclose(np.trace(cm) / cm.sum(), metrics["val_accuracy"], atol=1e-6)


def _val_images(data):
    return np.concatenate([x.numpy() for x, _ in data.val])[:8]


def test_model_keras_round_trip(run):
    result, data, *_ = run
    x = _val_images(data)
    loaded = keras.models.load_model(result.run_dir / "model.keras")
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), result.model.predict(x, verbose=0), atol=1e-6
    )


def test_saved_model_serves_without_kerasopt(run, tmp_path):
    result, data, *_ = run
    x = _val_images(data)[:, 8:-3, 5:, :]  # raw images of another size: the model resizes
    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys; sys.modules['kerasopt'] = None\n"
        "import numpy as np, tensorflow as tf\n"
        f"served = tf.saved_model.load({str(result.run_dir / 'saved_model')!r})\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, served.serve(tf.constant(x)).numpy())\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = np.load(tmp_path / "y.npy")
    np.testing.assert_allclose(served, result.model.predict(x, verbose=0), atol=1e-5)


def test_phase2_trained_on_cached_activations_exports_the_trained_classifier(run):
    """Phase 2 ran on the cached activations below the unfrozen layers (the default): the
    classifier gives the trained top's predictions on the bottom's activations (float32
    rounding only), so model.keras and the SavedModel do too (they equal the classifier:
    `test_model_keras_round_trip`, `test_saved_model_serves_without_kerasopt`); the bottom
    holds no trained weight, and the best-epoch checkpoint is a whole classifier (raw images
    of any size in)."""
    result, data, _, _, cached = run
    assert len(cached) == 1
    split = cached[0].split
    recorded = result.metrics["phases"]["finetune"]["cached_activations"]
    assert recorded["cut"] == split.cut and recorded["views"] == 1
    assert not {v.path for v in split.bottom.weights} & {
        v.path for v in result.backbone.trainable_weights
    }
    x = _val_images(data)
    np.testing.assert_allclose(
        result.model.predict(x, verbose=0), split.top(split.bottom(x)), atol=1e-5
    )
    with zipfile.ZipFile(result.run_dir / "checkpoints" / "finetune.keras") as archive:
        config = json.loads(archive.read("config.json"))["config"]
    assert config["name"] == result.model.name
    assert config["layers"][0]["config"]["batch_shape"] == [None, None, None, 3]


def test_predict_recipe_on_a_jpeg(run, small_folder, capsys):
    from recipes.predict import main

    result, *_ = run
    jpeg = sorted((small_folder / "val" / "bees").glob("*.jpg"))[0]
    out = main([str(result.run_dir), str(jpeg), "--top-k", "2"])
    image = tf.io.decode_jpeg(tf.io.read_file(str(jpeg)), channels=3)
    probs = result.model.predict(tf.cast(image, tf.float32)[None], verbose=0)[0]
    (name, p), _ = out[str(jpeg)]
    assert name == ["ants", "bees"][int(np.argmax(probs))]
    np.testing.assert_allclose(p, probs.max(), atol=1e-5)
    assert jpeg.name in capsys.readouterr().out


@pytest.mark.reference("transfer.configure_device", "transfer.DeviceSetup")
def test_configure_device_on_cpu_and_flags():
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("checks the CPU defaults")
    previous = keras.mixed_precision.global_policy()
    try:
        auto = configure_device()
        assert (auto.mixed_precision, auto.jit_compile) == (False, False)
        assert keras.mixed_precision.global_policy().name == "float32"
        forced = configure_device(mixed_precision=True, xla=True, distribute=False)
        assert (forced.mixed_precision, forced.jit_compile) == (True, True)
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        with pytest.raises(ValueError, match="Argument `xla`"):
            configure_device(xla="yes")
    finally:
        keras.mixed_precision.set_global_policy(previous)


@pytest.mark.gpu
def test_configure_device_on_a_gpu_switches_on_mixed_precision_and_xla():
    """Deselected by default; `pytest -m gpu` on a machine with a GPU."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        pytest.skip("needs a GPU: none is visible to TensorFlow")
    previous = keras.mixed_precision.global_policy()
    try:
        auto = configure_device()
        assert (auto.mixed_precision, auto.jit_compile) == (True, True)
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        assert auto.description.startswith("GPU")
        assert isinstance(auto.distribution, tf.distribute.MirroredStrategy) == (len(gpus) > 1)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def test_fine_tune_argument_validation(synthetic_image_folder, tmp_path):
    data = image_dataset(synthetic_image_folder, image_size=32, batch_size=16)
    with pytest.raises(TypeError, match="Argument `strategy`"):
        fine_tune(data, tmp_path, strategy="top")
    with pytest.raises(ValueError, match="Argument `patience`"):
        fine_tune(data, tmp_path, strategy=STRATEGY, patience=0)


@pytest.mark.slow
def test_random_init_baseline_trains_everything_including_batchnorm(small_folder, tmp_path):
    """The weights=None baseline (`train_scratch`): epochs_head + epochs_finetune epochs, every
    layer trained, BatchNormalization moving statistics updated from the batches."""
    data = image_dataset(small_folder, image_size=32, batch_size=16, augment=False)
    base = backbone("mobilenet", weights=None, input_shape=(32, 32, 3), alpha=0.25)
    model = build_classifier(base, 2, inference_backbone=False)
    strategy = FineTuneStrategy("scratch", 0.3, epochs_head=1, epochs_finetune=1)
    history, metrics = train_scratch(model, data, strategy, configure_device(), verbose=0)
    assert metrics["epochs"] == len(history["loss"]) == 2
    assert len(model.trainable_weights) == len(base.trainable_weights) + 2
    bn = next(layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization))
    assert not np.allclose(bn.moving_mean.numpy(), 0.0)


def test_predict_recipe_names_each_broken_image_and_predicts_the_rest(
    run, small_folder, tmp_path, capsys
):
    """A truncated JPEG and a text file among three photos: both named on stderr, the photos
    classified as the model classifies them, exit status 1 at the end."""
    from recipes.predict import main

    result, *_ = run
    photos = sorted((small_folder / "val" / "ants").glob("*.jpg"))[:3]
    folder = tmp_path / "images"
    folder.mkdir()
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
    truncated = folder / "truncated.jpg"
    truncated.write_bytes(photos[0].read_bytes()[:2000])
    (folder / "notes.txt").write_text("not an image")
    images = [
        folder / photos[0].name,
        truncated,
        folder / photos[1].name,
        folder / "notes.txt",
        folder / photos[2].name,
    ]
    with pytest.raises(SystemExit) as exit_info:
        main([str(result.run_dir), *map(str, images), "--top-k", "1"])
    assert exit_info.value.code == 1
    out, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert (
        len(errors) == 2 and str(truncated) in errors[0] and str(folder / "notes.txt") in errors[1]
    )
    assert "Traceback" not in err
    for photo in photos:
        image = tf.io.decode_jpeg(tf.io.read_file(str(photo)), channels=3)
        probs = result.model.predict(tf.cast(image, tf.float32)[None], verbose=0)[0]
        assert (
            f"{folder / photo.name}: {['ants', 'bees'][int(np.argmax(probs))]} {probs.max():.3f}"
            in out
        )


def test_the_published_phase_is_the_one_with_the_lower_validation_loss(run):
    metrics = run[0].metrics
    head, finetune = (metrics["phases"][p]["val_loss"] for p in ("head", "finetune"))
    assert metrics["kept_phase"] == ("finetune" if finetune <= head else "head")
    assert metrics["val_loss"] == metrics["phases"][metrics["kept_phase"]]["val_loss"]
