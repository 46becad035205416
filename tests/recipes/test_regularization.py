"""recipes.regularization end to end on the MNIST test set (offline assets), in this process:
one seed, one epoch, 600 training and 200 test images, the plain network and the
augmentation variant (with its two test-time augmentation rows).

Checked: the written data description and command name the sizes asked for; every accuracy
is a count over the 200 test digits; the plain network learns (above chance beyond sampling
error); the docs copies are byte-identical to the results; the picture is a valid PNG of the
documented grid (one row of training views, one of the ten test-time views)."""

import json
import math
import sys

import pytest

from tests.recipes._outputs import check_folder, check_png


@pytest.mark.usefixtures("assets")
def test_regularization_one_epoch(tmp_path, monkeypatch):
    import recipes.regularization

    out, docs = tmp_path / "out", tmp_path / "docs"
    argv = ["regularization", "--seeds", "1", "--epochs", "1", "--train-size", "600"]
    argv += ["--test-size", "200", "--variants", "none", "augmentation"]
    argv += ["--out", str(out), "--docs", str(docs)]
    monkeypatch.setattr(sys, "argv", argv)
    recipes.regularization.main()
    names = ["augmentation_views.png", "results.json", "results.md"]
    check_folder(out, names)
    check_folder(docs, names)
    for name in names:
        assert (docs / name).read_bytes() == (out / name).read_bytes()
    check_png(out / "augmentation_views.png")
    result = json.loads((out / "results.json").read_text())
    assert "600 train / 200 test images" in result["data"]
    assert "--seeds 1 --epochs 1" in result["command"]
    assert result["command"].endswith("--variants none augmentation")
    accuracy = result["accuracy"]
    assert sorted(accuracy) == sorted(
        ["none", "augmentation", "augmentation + TTA five-crop", "augmentation + TTA ten-crop"]
    )
    for variant, a in accuracy.items():
        assert len(a["per_seed"]) == 1 and a["std"] == 0.0, variant
        # Keras' float32 metric: within 200 * 2^-24 of a count
        assert a["mean"] * 200 == pytest.approx(round(a["mean"] * 200), abs=1e-3), variant
    assert accuracy["none"]["mean"] > 0.1 + 5 * math.sqrt(0.09 / 200)
