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


def test_distill_command_end_to_end_on_a_tiny_teacher(keras_home, synthetic_image_folder, tmp_path):
    """The default run's variant: `kerasopt distill`'s `main` in this process on a tiny teacher
    run (tests/export/_models.fake_run) and the 6 + 4 synthetic photos, 32 px, 1 + 1 epochs.
    Each reported accuracy and NLL is recomputed here from the model the command shipped."""
    import keras

    from kerasopt.cli import distill
    from kerasopt.transfer import image_folder
    from tests.export._models import fake_run

    run, out = tmp_path / "teacher", tmp_path / "out"
    fake_run(run, class_names=("ants", "bees"))
    argv = [run, "--data", synthetic_image_folder, "--image-size", 32, "--batch-size", 4]
    argv += ["--epochs-head", 1, "--epochs-finetune", 1, "--out", out]
    result = distill.main(list(map(str, argv)))
    assert result["scored_on"].startswith("val/") and (result["n_train"], result["n_test"]) == (
        6,
        4,
    )
    assert json.loads((out / "results.json").read_text()) == json.loads(json.dumps(result))
    val = image_folder(synthetic_image_folder / "val", ["ants", "bees"], 32, 4)
    labels = np.concatenate([y.numpy() for _, y in val])
    shipped = {
        "teacher": run / "model.keras",
        "student_labels": out / "student_labels" / "model.keras",
        "student_distilled": out / "student_distilled" / "model.keras",
    }
    for name, path in shipped.items():
        p = keras.models.load_model(path).predict(val, verbose=0).astype("float64")
        row = result["models"][name]
        assert row["accuracy"] == np.mean(p.argmax(-1) == labels), name
        nll = -np.mean(np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, 1.0)))
        np.testing.assert_allclose(row["nll"], nll, rtol=1e-6, err_msg=name)  # float32 output
        if name != "teacher":
            assert (out / name / "saved_model" / "saved_model.pb").is_file()
