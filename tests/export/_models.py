"""Small image classifiers for the export and recipe tests, and fake run folders."""

import json

import keras
import numpy as np

from kerasopt.callbacks import SnapshotEnsemble
from kerasopt.ensembles import load
from kerasopt.transfer import build_classifier


def tiny_classifier(n_classes=3, seed=0, name="classifier"):
    """`build_classifier` on a small random backbone (Conv, BatchNormalization with non-trivial
    statistics): raw images of any size -> probabilities, with a Dropout before the head."""
    keras.utils.set_random_seed(seed)
    base = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(6, 3, strides=2, name="conv"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.ReLU(),
    ], name="base")
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
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[SnapshotEnsemble(folder, 3, max_lr=0.5)])
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
