"""A `.keras` file is backend-neutral: models with kerasopt layers and initializers, a
`kerasopt.transfer` classifier (preprocessing layer, inference-mode backbone, smoothed loss) and a
member average (`kerasopt.ensembles.average_models`, what `search.top_k_ensemble` returns) saved
under TensorFlow load and predict the same under JAX, and the other way round (subprocesses,
one backend each; Keras picks its backend once per process)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

_SAVE = """
import sys, keras, numpy as np, kerasopt
folder = sys.argv[1]
keras.utils.set_random_seed(0)
inputs = keras.Input((12, 12, 3))
x = keras.layers.Conv2D(4, 3, kernel_initializer=kerasopt.initializers.DeltaOrthogonal(seed=1))(inputs)
x = kerasopt.layers.FractionalMaxPooling2D(1.5, seed=2)(x)
x = kerasopt.layers.StochasticDepth(0.8)([x, keras.layers.Conv2D(4, 1)(x)])
x = keras.layers.GlobalAveragePooling2D()(x)
x = kerasopt.layers.DropConnectDense(8, rate=0.5, kernel_initializer=kerasopt.initializers.Sparse(3, seed=3))(x)
outputs = keras.layers.Dense(3, bias_initializer=kerasopt.initializers.PriorBias([0.2, 0.3, 0.5]))(x)
model = keras.Model(inputs, outputs)
images = np.random.default_rng(0).uniform(0, 1, (5, 12, 12, 3)).astype("float32")
model.save(folder + "/model.keras")
np.save(folder + "/images.npy", images)
np.save(folder + "/saved.npy", keras.ops.convert_to_numpy(model(images, training=False)))

base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)], name="base")
classifier = kerasopt.transfer.build_classifier(base, n_classes=3, preprocessing="caffe")
classifier.compile(keras.optimizers.Adam(1e-3), kerasopt.transfer.SparseSmoothedCrossentropy(0.1))
members = []
for i in range(2):
    member = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")], name=f"m{i}")
    members.append(member)
average = kerasopt.ensembles.average_models(members)
vectors = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")
np.save(folder + "/vectors.npy", vectors)
for name, model, x in (("classifier", classifier, images * 255), ("average", average, vectors)):
    model.save(folder + f"/{name}.keras")
    np.save(folder + f"/{name}_saved.npy", keras.ops.convert_to_numpy(model(x, training=False)))
"""

_LOAD = """
import sys, keras, numpy as np, kerasopt
folder = sys.argv[1]
model = keras.saving.load_model(folder + "/model.keras")
images = np.load(folder + "/images.npy")
np.save(folder + "/loaded.npy", keras.ops.convert_to_numpy(model(images, training=False)))
vectors = np.load(folder + "/vectors.npy")
for name, x in (("classifier", images * 255), ("average", vectors)):
    model = keras.saving.load_model(folder + f"/{name}.keras")
    np.save(folder + f"/{name}_loaded.npy", keras.ops.convert_to_numpy(model(x, training=False)))
"""


def _run(code, backend, folder):
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", code, str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{backend}: {result.stderr[-3000:]}"


@pytest.mark.parametrize("saver,loader", [("tensorflow", "jax"), ("jax", "tensorflow")])
def test_keras_file_predicts_the_same_on_the_other_backend(tmp_path, saver, loader):
    _run(_SAVE, saver, tmp_path)
    _run(_LOAD, loader, tmp_path)
    saved, loaded = np.load(tmp_path / "saved.npy"), np.load(tmp_path / "loaded.npy")
    assert saved.shape == (5, 3)
    # Same weights, same inference-mode graph; only float32 kernel order differs.
    np.testing.assert_allclose(loaded, saved, rtol=1e-5, atol=1e-6)
    for name in ("classifier", "average"):
        saved, loaded = (np.load(tmp_path / f"{name}_{end}.npy") for end in ("saved", "loaded"))
        assert saved.shape == (5, 3)
        np.testing.assert_allclose(loaded, saved, rtol=1e-5, atol=1e-6, err_msg=name)
