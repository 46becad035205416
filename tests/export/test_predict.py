"""Batch prediction over folders and globs against `model.predict` on each raw image."""

import pytest

from kerasopt.export import export_onnx, find_images, load_predictor, predict_files
from tests.export._models import fake_run, keras_top1, write_images

SIZES = [(30, 40), (16, 16), (50, 20), (23, 31), (16, 16), (64, 48), (17, 90)]


@pytest.mark.parametrize("fmt", ["keras", "onnx"])
@pytest.mark.reference("export.predict_files", "export.load_predictor", "export.read_images")
def test_folder_prediction_matches_model_predict(fmt, tmp_path):
    model = fake_run(tmp_path / "run")
    paths = write_images(tmp_path / "photos" / "sub", SIZES)
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    source = (
        tmp_path / "run"
        if fmt == "keras"
        else export_onnx(model, tmp_path / "m.onnx", class_names=["a", "b", "c"])
    )
    predictor = load_predictor(source)
    done = []
    with pytest.warns(UserWarning, match=r"Skipping .*notes.txt.*not an image file"):
        found = find_images([tmp_path / "photos"])
    rows = list(predict_files(predictor, found, batch_size=3, top_k=2, progress=done.append))
    assert [r["file"] for r in rows] == [str(p) for p in paths]
    names = predictor.class_names
    assert [names.index(r["top"][0][0]) for r in rows] == keras_top1(model, paths)
    assert all(len(r["top"]) == 2 and r["top"][0][1] >= r["top"][1][1] for r in rows)
    assert done == [3, 6, 7]  # 7 images in batches of 3


@pytest.mark.reference("export.find_images")
def test_find_images_globs_dedupes_and_reports_missing(tmp_path):
    paths = write_images(tmp_path, [(4, 4), (5, 5)])
    assert find_images([paths[0], str(tmp_path / "*.png"), tmp_path]) == paths
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        find_images([tmp_path / "nothing_here*.jpg"])


def test_undecodable_image_goes_to_on_error_and_the_rest_is_predicted(tmp_path):
    fake_run(tmp_path / "run")
    paths = write_images(tmp_path / "photos", [(20, 20), (30, 10)])
    broken = tmp_path / "photos" / "broken.png"
    broken.write_bytes(paths[0].read_bytes()[:40])
    errors = []
    rows = list(
        predict_files(
            load_predictor(tmp_path / "run"),
            [paths[0], broken, paths[1]],
            on_error=lambda path, message: errors.append((path, message)),
        )
    )
    assert [r["file"] for r in rows] == [str(paths[0]), str(paths[1])]
    assert errors and errors[0][0] == broken and "not a readable" in errors[0][1]
    with pytest.warns(UserWarning, match=r"Skipping .*broken.png.*not a readable"):
        assert len(list(predict_files(load_predictor(tmp_path / "run"), [broken, paths[1]]))) == 1
