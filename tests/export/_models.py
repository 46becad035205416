"""Small image classifiers for the export and recipe tests, and fake run folders."""

import json

import keras
import numpy as np
import tensorflow as tf

from kerasopt.callbacks import SnapshotEnsemble
from kerasopt.ensembles import load
from kerasopt.transfer import build_classifier


def tiny_classifier(n_classes=3, seed=0, name="classifier"):
    """`build_classifier` on a small random backbone (Conv, BatchNormalization with non-trivial
    statistics): raw images of any size -> probabilities, with a Dropout before the head."""
    keras.utils.set_random_seed(seed)
    base = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(6, 3, strides=2, name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.ReLU(),
        ],
        name="base",
    )
    bn = base.get_layer("bn")
    bn.moving_mean.assign(np.linspace(-0.5, 0.5, 6).astype("float32"))
    bn.moving_variance.assign(np.linspace(0.5, 2.0, 6).astype("float32"))
    return build_classifier(base, n_classes, dropout=0.3, name=name)


def raw_images(n=6, height=23, width=31, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, height, width, 3)).astype("float32")


def snapshot_ensemble(folder, n_classes=3):
    """A real 3-member snapshot ensemble of tiny classifiers (SnapshotEnsemble + ensembles.load)."""
    model = tiny_classifier(n_classes)
    x = raw_images(24, 16, 16, seed=1)
    y = np.arange(24) % n_classes
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.fit(
        x, y, batch_size=8, epochs=3, verbose=0, callbacks=[SnapshotEnsemble(folder, 3, max_lr=0.5)]
    )
    return load(folder)


def fake_run(folder, class_names=("ants", "bees", "wasps"), ensemble=None):
    """A run folder as recipes.finetune leaves it, for what export and predict read:
    model.keras and class_names.json (and ensemble/ when `ensemble` is a model)."""
    folder.mkdir(parents=True, exist_ok=True)
    model = tiny_classifier(len(class_names))
    model.save(folder / "model.keras")
    (folder / "class_names.json").write_text(json.dumps(list(class_names)))
    if ensemble is not None:
        (folder / "ensemble").mkdir()
        ensemble.save(folder / "ensemble" / "model.keras")
        (folder / "ensemble" / "class_names.json").write_text(json.dumps(list(class_names)))
    return model


def write_images(folder, sizes, seed=0):
    """PNG files of random pixels, one per (height, width); returns their paths."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (h, w) in enumerate(sizes):
        path = folder / f"img{i:02d}.png"
        tf.io.write_file(
            str(path), tf.io.encode_png(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        )
        paths.append(path)
    return paths


def keras_top1(model, paths):
    """model.predict on each raw decoded image, one at a time (the reference)."""
    top = []
    for path in paths:
        image = tf.cast(tf.io.decode_png(tf.io.read_file(str(path)), channels=3), tf.float32)[None]
        top.append(int(model.predict(image, verbose=0)[0].argmax()))
    return top
