"""recipes.dbn_pretrain end to end on the MNIST test set (offline assets), in this process: one
seed, a 16-unit DBN pretrained for one epoch, 100 labels, 60 fine-tuning updates.

Checked: the filters picture is a valid PNG; one run per initialization at the requested label
count; accuracies as counts over the documented 2,000 held-out digits (20% of 10,000); the
summary restated with NumPy; and the supervised pipeline learns (ReLU/He at 100 labels above
chance beyond sampling error)."""

import json
import math
import sys

import numpy as np
import pytest

from tests.recipes._outputs import check_folder, check_png


@pytest.mark.usefixtures("assets")
def test_dbn_pretrain_smoke_run(tmp_path, monkeypatch):
    import recipes.dbn_pretrain

    argv = ["dbn_pretrain", "--hidden", "16", "--labels", "100", "--seeds", "0"]
    argv += ["--pretrain-epochs", "1", "--steps", "60", "--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    recipes.dbn_pretrain.main()
    check_folder(tmp_path, ["first_layer_filters.png", "results.json", "results.md"])
    check_png(tmp_path / "first_layer_filters.png")
    result = json.loads((tmp_path / "results.json").read_text())
    runs = result["runs"]
    assert [(r["seed"], r["labels"], r["init"]) for r in runs] == [
        (0, 100, init) for init in ("dbn", "glorot", "he")
    ]
    n_test = 2000
    for r in runs:
        a = r["test_accuracy"]  # Keras' float32 metric: within 2000 * 2^-24 of a count
        assert a * n_test == pytest.approx(round(a * n_test), abs=1e-3)
        s = result["summary"][f"100/{r['init']}"]
        assert (s["mean"], s["std"], s["n"]) == (pytest.approx(np.mean([a])), 0.0, 1)
    he = next(r for r in runs if r["init"] == "he")["test_accuracy"]
    assert he > 0.1 + 5 * math.sqrt(0.09 / n_test)
