import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from kerasopt.callbacks import SnapshotEnsemble
from kerasopt.ensembles import export, load

SERVE = textwrap.dedent(
    """
    import sys
    sys.modules["kerasopt"] = None  # the guard: any import of kerasopt below raises ImportError
    import numpy as np
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    x = np.load(sys.argv[2])
    outputs = loaded.signatures["serving_default"](tf.constant(x))
    (out,) = outputs.values()
    np.save(sys.argv[3], out.numpy())
    np.save(sys.argv[4], loaded.serve(tf.constant(x)).numpy())
    """
)


def snapshot_ensemble(directory, x):
    """A real one: snapshots written by SnapshotEnsemble, loaded by ensembles.load."""
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    y = np.argmax(x[:, :4], axis=1)
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        verbose=0,
        callbacks=[SnapshotEnsemble(directory, 3, max_lr=0.5)],
    )
    return load(directory)


@pytest.mark.reference("ensembles.export")
def test_export_serves_without_kerasopt(tmp_path):
    x = np.random.default_rng(0).normal(size=(16, 6)).astype("float32")
    model = snapshot_ensemble(tmp_path / "snaps", x)
    expected = model.predict(x, verbose=0)
    paths = export(model, tmp_path / "shipped")
    assert paths["keras"].is_file() and (paths["saved_model"] / "saved_model.pb").is_file()

    np.save(tmp_path / "x.npy", x)
    (tmp_path / "serve.py").write_text(SERVE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "serve.py", str(paths["saved_model"]), "x.npy", "sig.npy", "serve.npy"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "sig.npy"), expected, atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "serve.npy"), expected, atol=1e-5)

    restored = keras.models.load_model(paths["keras"])
    np.testing.assert_array_equal(restored.predict(x, verbose=0), expected)


def test_export_rejects_non_model(tmp_path):
    import pytest

    with pytest.raises(TypeError, match="`model`"):
        export("not a model", tmp_path)
