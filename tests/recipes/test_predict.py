"""kerasopt predict over folders and globs, with a run folder or an exported file."""

import csv
import json

import pytest

from kerasopt.cli.predict import main
from kerasopt.export import export_onnx
from tests.export._models import fake_run, keras_top1, write_images

SIZES = [(30, 40), (16, 16), (50, 20), (23, 31), (64, 48)]
NAMES = ["ants", "bees", "wasps"]


@pytest.fixture
def photos(tmp_path):
    paths = write_images(tmp_path / "photos" / "nested", SIZES)
    (tmp_path / "photos" / "readme.txt").write_text("not an image")
    return tmp_path / "photos", paths


def test_folder_top1_matches_model_predict_and_skips_non_images(tmp_path, photos, capsys):
    model = fake_run(tmp_path / "run", NAMES)
    folder, paths = photos
    with pytest.warns(UserWarning, match=r"Skipping .*readme.txt.*not an image file"):
        results = main([str(tmp_path / "run"), str(folder), "--top-k", "2", "--batch-size", "2"])
    assert list(results) == [str(p) for p in paths]
    assert [NAMES.index(top[0][0]) for top in results.values()] == keras_top1(model, paths)
    out = capsys.readouterr().out
    for path, top in results.items():
        assert f"{path}: {top[0][0]} {top[0][1]:.3f}, {top[1][0]} {top[1][1]:.3f}" in out
    assert "readme.txt" not in out


def test_json_and_csv_from_an_onnx_export_and_a_glob(tmp_path, photos):
    model = fake_run(tmp_path / "run", NAMES)
    folder, paths = photos
    onnx_path = export_onnx(model, tmp_path / "m.onnx", class_names=NAMES)
    out_json, out_csv = tmp_path / "out.json", tmp_path / "out.csv"
    main(
        [
            str(onnx_path),
            str(folder / "nested" / "*.png"),
            "--top-k",
            "3",
            "--json",
            str(out_json),
            "--csv",
            str(out_csv),
        ]
    )
    records = json.loads(out_json.read_text())
    assert [r["file"] for r in records] == [str(p) for p in paths]
    assert [NAMES.index(r["top"][0]["class"]) for r in records] == keras_top1(model, paths)
    assert all(
        abs(sum(t["probability"] for t in r["top"]) - 1) < 1e-5 for r in records
    )  # all 3 classes
    with out_csv.open() as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == [
        "file",
        "class_1",
        "probability_1",
        "class_2",
        "probability_2",
        "class_3",
        "probability_3",
    ]
    assert [row["class_1"] for row in table] == [r["top"][0]["class"] for r in records]


def test_an_input_matching_nothing_is_one_line(tmp_path, capsys):
    fake_run(tmp_path / "run", NAMES)
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "run"), str(tmp_path / "nothing*.jpg")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: No file or folder matches")
