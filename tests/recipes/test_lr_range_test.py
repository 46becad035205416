"""recipes.lr_range_test end to end on digits (no assets), in this process: a 40-step sweep and
one epoch per check. The written figures are checked against LRFinder's documented rules
(Smith 2017's geometric sweep; the "minimum / 10" suggestion), not against its code. Not
`portable`: it passes on JAX too, but costs about 19 s of CPU there."""

import json
import math

import numpy as np
import pytest

from tests.recipes._outputs import check_folder, check_png


def test_lr_range_test_on_digits(tmp_path):
    from recipes.lr_range_test import main

    steps, low, high = 40, 1e-4, 1000.0
    main(
        ["--dataset", "digits", "--steps", str(steps), "--epochs", "1", "--width", "16"]
        + ["--min-lr", str(low), "--max-lr", str(high), "--out", str(tmp_path)]
    )
    check_folder(tmp_path, ["lr_finder.png", "results.json", "results.md", "schedules.png"])
    for png in ("lr_finder.png", "schedules.png"):
        check_png(tmp_path / png)
    result = json.loads((tmp_path / "results.json").read_text())
    # the sweep runs all its steps unless it stops on divergence
    assert result["sweep_steps"] == steps or (result["diverged"] and result["sweep_steps"] < steps)
    # the lowest smoothed loss is at a swept rate: low * (high / low) ** (k / (steps - 1))
    lowest = result["lr_at_lowest_smoothed_loss"]
    # and far below the top of the sweep: SGD with momentum 0.9 cannot train at rates of 10 and
    # more on this network (Smith 2017: the loss falls, then rises as the rate grows)
    assert lowest < 10.0
    k = (steps - 1) * math.log(lowest / low) / math.log(high / low)
    assert k == pytest.approx(round(k), abs=1e-6) and 0 <= round(k) < result["sweep_steps"]
    assert result["suggestion"] == pytest.approx(max(low, lowest / 10), rel=1e-12)
    checks = result["checks"]
    assert [c["factor"] for c in checks] == [0.1, 1.0, 10.0]
    for c in checks:
        assert c["learning_rate"] == pytest.approx(c["factor"] * result["suggestion"], rel=1e-12)
    # one epoch at the suggested rate learns: above chance on the 359 test digits by 5 sd
    assert checks[1]["test_accuracy"] > 0.1 + 5 * np.sqrt(0.09 / 359)
