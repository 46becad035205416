"""recipes.averaging end to end on digits (no assets), in this process: one seed, one epoch.

A constructed case with a closed form: at learning rate 0 every iterate is the initial
weights, so each average of them (Polyak's running mean, the EMA, SWA's epoch snapshots) is
those weights again. SWA without recomputation must then score exactly what the final iterate
does, and the three averages with recomputed BatchNorm statistics exactly the same as each
other."""

import json
import sys

from tests.recipes._outputs import check_folder


def test_averaging_at_rate_zero_gives_the_iterate_back(tmp_path, monkeypatch):
    import recipes.averaging
    from kerasopt import datasets

    out, docs = tmp_path / "out", tmp_path / "docs"
    argv = ["averaging", "--seeds", "1", "--epochs", "1", "--learning-rate", "0"]
    monkeypatch.setattr(sys, "argv", argv + ["--out", str(out), "--docs", str(docs)])
    recipes.averaging.main()
    check_folder(out, ["results.json", "results.md"])
    check_folder(docs, ["results.json", "results.md"])
    for name in ("results.json", "results.md"):
        assert (docs / name).read_bytes() == (out / name).read_bytes()
    summary = json.loads((out / "results.json").read_text())["summary"]
    acc = {column: s["per_seed"] for column, s in summary.items()}
    assert sorted(acc) == sorted(["final", "polyak+bn", "ema+bn", "swa", "swa+bn"])
    assert acc["swa"] == acc["final"]
    assert acc["polyak+bn"] == acc["ema+bn"] == acc["swa+bn"]
    # accuracies are counts over the recipe's 30% test split of the 1,797 digits
    x, y = datasets.load("digits")
    n = len(datasets.split(x, y, 0.3, 0)[3])
    for values in acc.values():
        assert len(values) == 1 and abs(values[0] * n - round(values[0] * n)) < 1e-3
