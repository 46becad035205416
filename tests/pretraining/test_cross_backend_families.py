"""A `.keras` file with the objects of distillation, curriculum, pretraining and the momentum
cycle saves on one backend and loads and predicts the same on the other (TensorFlow <-> JAX),
the pattern of `tests/backends/test_cross_backend.py`, whose subprocess runner this reuses:
one backend per process, since Keras picks its backend once per process."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_SPEC = importlib.util.spec_from_file_location(
    "cross_backend", Path(__file__).resolve().parents[1] / "backends" / "test_cross_backend.py"
)
_CROSS = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_CROSS)

_SAVE = """
import sys, keras, numpy as np
from kerasopt.callbacks import MomentumCycle
from kerasopt.curriculum import Continuation, SmoothedCrossentropy
from kerasopt.distill import Distiller, HintTrainer
from kerasopt.pretraining import BernoulliRBM, DBN, GaussianBernoulliRBM
from kerasopt.schedules import OneCycle
folder = sys.argv[1]
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(32, 6)).astype("float32")
y = np.argmax(x[:, :3], axis=1)
bits = (rng.uniform(size=(32, 6)) < 0.5).astype("float32")

def mlp(width, name):
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(width, activation="relu", name=name + "_hidden"),
                             keras.layers.Dense(3, activation="softmax", name=name + "_out")], name=name)

models = {}
distiller = Distiller(mlp(8, "student"), mlp(16, "teacher"), temperature=2.0, alpha=0.5)
distiller.compile(optimizer="adam")
distiller.fit(x, y, epochs=1, verbose=0)
models["distiller"] = (distiller, x)
hints = HintTrainer(mlp(8, "student2"), mlp(16, "teacher2"), "student2_hidden", "teacher2_hidden")
hints.compile(optimizer="adam")
hints.fit(x, epochs=1, verbose=0)
models["hints"] = (hints, x)
loss = SmoothedCrossentropy(0.3)
smoothed = mlp(8, "smoothed")
smoothed.compile(optimizer="sgd", loss=loss)
smoothed.fit(x, y, epochs=2, verbose=0, callbacks=[Continuation(loss.smoothing, 0.4, 0.0, 2)])
models["smoothed"] = (smoothed, x)
schedule = OneCycle(0.05, 4)
cycled = mlp(8, "cycled")
cycled.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9), loss="sparse_categorical_crossentropy")
cycled.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[MomentumCycle(schedule)])
models["cycled"] = (cycled, x)
for name, rbm, data in (("bernoulli", BernoulliRBM(4, persistent=True, n_chains=8, seed=0), bits),
                        ("gaussian", GaussianBernoulliRBM(4, seed=0), x)):
    rbm.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.5))
    rbm.fit(data, epochs=2, batch_size=8, verbose=0)
    models[name] = (rbm, data)
dbn = DBN([5, 3], seed=0)
dbn.pretrain(bits, epochs=1, batch_size=8, verbose=0)
models["dbn_classifier"] = (dbn.to_classifier(2), bits)
for name, (model, data) in models.items():
    model.save(f"{folder}/{name}.keras")
    np.save(f"{folder}/{name}_x.npy", data)
    np.save(f"{folder}/{name}_saved.npy", keras.ops.convert_to_numpy(model(data, training=False)))
np.save(f"{folder}/momentum.npy", cycled.optimizer.momentum)
"""

_LOAD = """
import sys, glob, os, keras, numpy as np
import kerasopt  # registers the classes
folder = sys.argv[1]
for path in glob.glob(folder + "/*.keras"):
    name = os.path.basename(path)[:-len(".keras")]
    model = keras.saving.load_model(path)
    data = np.load(f"{folder}/{name}_x.npy")
    np.save(f"{folder}/{name}_loaded.npy", keras.ops.convert_to_numpy(model(data, training=False)))
    if name == "cycled":
        np.save(f"{folder}/momentum_loaded.npy", model.optimizer.momentum)
"""

NAMES = ("distiller", "hints", "smoothed", "cycled", "bernoulli", "gaussian", "dbn_classifier")


# TensorFlow -> JAX in the default run; the reverse (as slow: four fresh processes in all
# would take most of the default run's time budget) under `-m slow`.
@pytest.mark.parametrize(
    "saver,loader",
    [("tensorflow", "jax"), pytest.param("jax", "tensorflow", marks=pytest.mark.slow)],
)
def test_family_keras_files_predict_the_same_on_the_other_backend(tmp_path, saver, loader):
    _CROSS._run(_SAVE, saver, tmp_path)
    _CROSS._run(_LOAD, loader, tmp_path)
    for name in NAMES:
        saved = np.load(tmp_path / f"{name}_saved.npy")
        loaded = np.load(tmp_path / f"{name}_loaded.npy")
        assert saved.shape == loaded.shape and saved.shape[0] == 32, name
        # Same weights, same inference graph; only float32 kernel order differs.
        np.testing.assert_allclose(loaded, saved, rtol=1e-5, atol=1e-6, err_msg=name)
    # the momentum the cycle left in the optimizer survives the file
    assert float(np.load(tmp_path / "momentum_loaded.npy")) == float(
        np.load(tmp_path / "momentum.npy")
    )
