"""Small image classifiers to export, and a subprocess in which kerasopt cannot be imported."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from kerasopt.callbacks import SnapshotEnsemble
from kerasopt.ensembles import load
from kerasopt.transfer import build_classifier

GUARD = textwrap.dedent(
    """
    import sys
    sys.modules["kerasopt"] = None  # any import of kerasopt below raises ImportError
    try:
        import kerasopt  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("kerasopt is importable: the isolation failed")
    """
)


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


@pytest.fixture(scope="module")
def ensemble3(tmp_path_factory):
    """A real 3-member snapshot ensemble of tiny classifiers (SnapshotEnsemble + ensembles.load)."""
    folder = tmp_path_factory.mktemp("snapshots")
    model = tiny_classifier()
    x = raw_images(24, 16, 16, seed=1)
    y = np.arange(24) % 3
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[SnapshotEnsemble(folder, 3, max_lr=0.5)])
    return load(folder)


@pytest.fixture
def isolated(tmp_path):
    """run(script, *args): run `script` in a fresh Python where kerasopt cannot be imported
    (guarded in sys.modules, cwd a temporary folder, no PYTHONPATH); return its stdout."""

    def run(script, *args):
        (tmp_path / "isolated.py").write_text(GUARD + textwrap.dedent(script))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        result = subprocess.run([sys.executable, "isolated.py", *map(str, args)], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    return run
