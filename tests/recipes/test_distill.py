"""End to end on ants vs bees: held-out split, a fine-tuned snapshot-ensemble teacher, the
distillation recipe, and the distilled student served by TensorFlow without kerasopt."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

SERVE = textwrap.dedent(
    """
    import sys
    sys.modules["kerasopt"] = None  # any import of kerasopt below raises ImportError
    import numpy as np
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    np.save(sys.argv[3], loaded.serve(tf.constant(np.load(sys.argv[2]))).numpy())
    """
)


@pytest.mark.slow
def test_distilled_ensemble_student_exports_and_serves_without_kerasopt(
    assets, keras_home, tmp_path
):
    import keras

    from kerasopt.cli import distill, finetune, holdout_split

    split = tmp_path / "data"
    holdout_split.main([str(assets / "datasets" / "hymenoptera_data"), str(split)])
    assert {p.name for p in split.iterdir()} == {"train", "val", "test"}
    run = tmp_path / "teacher"
    finetune.main(
        [
            "--data",
            str(split),
            "--image-size",
            "96",
            "--snapshots",
            "2",
            "--epochs-head",
            "1",
            "--epochs-finetune",
            "2",
            "--out",
            str(run),
            "--verbose",
            "0",
        ]
    )
    result = distill.main(
        [
            str(run),
            "--student",
            "mobilenet",
            "--alpha-width",
            "0.25",
            "--image-size",
            "128",
            "--epochs-head",
            "1",
            "--epochs-finetune",
            "1",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert result["scored_on"] == "test/" and result["n_test"] == 77
    assert result["teacher"].endswith(os.path.join("ensemble", "model.keras"))
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(saved["models"]) == {"teacher", "student_labels", "student_distilled"}
    student_dir = tmp_path / "out" / "student_distilled"
    student = keras.models.load_model(student_dir / "model.keras")
    x = np.random.default_rng(0).uniform(0, 255, size=(3, 128, 128, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "serve.py").write_text(SERVE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    served = subprocess.run(
        [sys.executable, "serve.py", str(student_dir / "saved_model"), "x.npy", "out.npy"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert served.returncode == 0, served.stderr[-2000:]
    np.testing.assert_allclose(
        np.load(tmp_path / "out.npy"), student.predict(x, verbose=0), atol=1e-5
    )
