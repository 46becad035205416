"""kerasopt export on a run folder: each format, the ensemble, and bad arguments."""

import json

import numpy as np
import pytest

from kerasopt.cli.export import main
from kerasopt.export import load_predictor
from tests.export._models import fake_run, raw_images, snapshot_ensemble


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    ensemble = snapshot_ensemble(root / "snapshots")
    model = fake_run(root / "run", ensemble=ensemble)
    return root / "run", model, ensemble


def test_every_format_serves_the_run_model(run):
    folder, model, _ = run
    x = raw_images(3, 20, 25)
    expected = model.predict(x, verbose=0)
    paths = [
        main([str(folder), "--format", "saved_model"]),
        main([str(folder), "--format", "saved_model", "--version", "5"]),
        main([str(folder), "--format", "onnx"]),
        main([str(folder), "--format", "litert"]),
        main([str(folder), "--format", "litert", "--quantize", "dynamic"]),
    ]
    export = folder / "export"
    assert paths == [
        export / "model" / "1",
        export / "model" / "5",
        export / "model.onnx",
        export / "model.tflite",
        export / "model_dynamic.tflite",
    ]
    for path in paths[:-1]:
        predictor = load_predictor(path)
        assert predictor.class_names == ["ants", "bees", "wasps"]
        np.testing.assert_allclose(predictor(x), expected, atol=1e-4)
    assert json.loads((export / "model_dynamic.tflite.json").read_text())["quantize"] == "dynamic"


def test_ensemble_flag_exports_the_ensemble(run, tmp_path):
    folder, _, ensemble = run
    x = raw_images(3, 20, 25)
    path = main([str(folder), "--format", "onnx", "--ensemble", "--out", str(tmp_path)])
    assert path == tmp_path / "ensemble.onnx"
    np.testing.assert_allclose(load_predictor(path)(x), ensemble.predict(x, verbose=0), atol=1e-4)


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--format", "onnx", "--quantize", "dynamic"],
            "argument --quantize: applies to --format litert only",
        ),
        (
            ["--format", "onnx", "--version", "2"],
            "argument --version: must be at least 1, with --format saved_model",
        ),
        (["--format", "saved_model", "--version", "0"], "argument --version: must be at least 1"),
        (["--format", "tflite"], "invalid choice: 'tflite'"),
    ],
)
def test_bad_arguments_get_one_line(run, argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(run[0]), *argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and message in err


def test_folder_without_model_is_rejected(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--format", "onnx"])
    assert capsys.readouterr().err.startswith(f"error: {tmp_path} has no model.keras")
