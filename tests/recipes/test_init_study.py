"""recipes.init_study end to end on digits (no assets), in this process: one epoch of the deep
ReLU experiment at width 8.

Independent of the recipe's verdicts: (a) the symmetry theorem (constant kernels leave every
hidden unit identical); (b) a closed form: He and Glorot draw the same normal values from the
same seed at different scales, and a ReLU net without biases is positively homogeneous, so at
initialization Glorot's hidden activations are He's times the product of the per-layer scale
ratios sqrt(fan_in / (fan_in + fan_out)); (c) the pass criterion restated on the reported
activation standard deviations."""

import json
import math
import sys

import numpy as np
import pytest

from tests.recipes._outputs import check_folder, check_png


def test_init_study_on_digits(tmp_path, monkeypatch):
    import recipes.init_study

    width = 8
    argv = ["init_study", "--dataset", "digits", "--deep-epochs", "1"]
    argv += ["--deep-width", str(width), "--verbose", "0", "--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    recipes.init_study.main()
    check_folder(tmp_path, ["deep_relu.png", "table.json", "table.md", "tanh_depth.png"])
    for png in ("deep_relu.png", "tanh_depth.png"):
        check_png(tmp_path / png)
    rows = {r["id"]: r for r in json.loads((tmp_path / "table.json").read_text())["results"]}
    assert sorted(rows) == ["a", "b", "c1", "c2"]

    symmetry = rows["a"]["details"]
    assert symmetry["constant 0.01"]["distinct_units"] == [1, 1]
    assert symmetry["glorot (tanh gain)"]["distinct_units"] == [64, 64]
    assert rows["a"]["reproduces"] is True

    deep = rows["b"]["details"]
    he, glorot = (deep["scale_reports"][k][:29] for k in ("He", "Glorot"))  # the hidden layers
    ratios = [math.sqrt(64 / (64 + width))] + [math.sqrt(0.5)] * 28  # 8x8 digits: 64 inputs
    for layer, (h, g) in enumerate(zip(he, glorot, strict=True)):
        assert g["std"] / h["std"] == pytest.approx(np.prod(ratios[: layer + 1]), rel=1e-4)
    for label in ("He", "Glorot"):
        assert len(deep["histories"][label]["loss"]) == 1  # one entry per epoch
    # a diverged run's loss is written as null: NaN, which meets neither bound
    losses = {k: deep["histories"][k]["loss"][-1] for k in ("He", "Glorot")}
    losses = {k: math.nan if v is None else v for k, v in losses.items()}
    assert rows["b"]["reproduces"] == (
        losses["He"] <= 0.5 * math.log(10) and losses["Glorot"] >= 0.9 * math.log(10)
    )

    reports = rows["c1"]["details"]["scale_reports"]
    spread = {
        label: np.abs(np.log([r["std"] / rep[0]["std"] for r in rep])).max()
        for label, rep in reports.items()
    }
    ortho = next(label for label in reports if label.startswith("orthogonal"))
    gaussians = [label for label in reports if label.startswith("Gaussian")]
    for row, baseline in zip((rows["c1"], rows["c2"]), gaussians, strict=True):
        assert row["reproduces"] == bool(spread[ortho] <= 0.5 * spread[baseline])
    # gain 1 on tanh shrinks the signal layer after layer (Saxe et al. 2014): a real spread
    assert spread["Gaussian, gain 1"] > 1.0
