"""recipes.search_study end to end, in this process, at a tiny budget (2 seeds, 3 trials).

The written rows are checked against a NumPy restatement of the documented surface (README of
`NoisySurface`: optimum (-2.5, -4), plateau 2.3 above lr 10^-0.5), not against its code."""

import json
import math

import numpy as np
import pytest

from tests.recipes._outputs import check_folder, check_png


def surface(lr, wd):
    """The documented noise-free loss over (u, v) = (log10 lr, log10 wd)."""
    u, v = np.log10(lr), np.log10(wd)
    if u > -0.5:
        return 2.3
    du, dv = u + 2.5, v + 4.0
    q = du**2 + 0.8 * du * dv + 0.5 * dv**2
    return 0.3 + 0.08 * q + 0.02 * np.sin(3 * u) * (1 - np.exp(-q))


@pytest.mark.portable
def test_search_study_tiny_budget(tmp_path):
    from recipes.search_study import main

    noise = 0.02
    main(["--seeds", "2", "--trials", "3", "--noise", str(noise), "--out", str(tmp_path)])
    check_folder(
        tmp_path, ["synthetic.json", "synthetic.log", "synthetic.md", "synthetic_distances.png"]
    )
    check_png(tmp_path / "synthetic_distances.png")
    result = json.loads((tmp_path / "synthetic.json").read_text())
    rows = result["rows"]
    methods = ("coarse_to_fine", "random", "bayesian")
    assert sorted((r["method"], r["seed"]) for r in rows) == sorted(
        (m, s) for m in methods for s in (0, 1)
    )
    for r in rows:
        lr, wd = r["learning_rate"], r["weight_decay"]
        assert 1e-6 <= lr <= 1.0 and 1e-7 <= wd <= 1e-1  # the documented bounds
        assert r["true_loss"] == pytest.approx(surface(lr, wd), abs=1e-12)
        assert r["distance"] == pytest.approx(
            math.hypot(math.log10(lr) + 2.5, math.log10(wd) + 4.0), abs=1e-12
        )
        # the best trial's score is one noisy observation of it: within 6 sd of the noise
        assert abs(r["observed_loss"] - r["true_loss"]) < 6 * noise
    for m in methods:
        distances = sorted(r["distance"] for r in rows if r["method"] == m)
        assert result["summary"][m]["distance"]["median"] == pytest.approx(np.median(distances))
        regrets = [r["true_loss"] - 0.3 for r in rows if r["method"] == m]
        assert result["summary"][m]["regret"]["mean"] == pytest.approx(np.mean(regrets))
    # each seed's closest searcher, counted from the rows
    closest = [
        min((r for r in rows if r["seed"] == s), key=lambda r: r["distance"]) for s in (0, 1)
    ]
    assert result["wins"] == {m: sum(c["method"] == m for c in closest) for m in methods}
    # margin study: random + 3 margins at each of the two noise levels
    assert [(s["noise"], s["method"]) for s in result["margin_sensitivity"]] == [
        (n, m)
        for n in (noise, noise / 4)
        for m in ["random"] + [f"coarse_to_fine margin={g}" for g in (0.1, 0.25, 0.5)]
    ]
    log = (tmp_path / "synthetic.log").read_text().splitlines()
    # one line per search of the comparison (3 methods x 2 seeds), then one per noise level
    assert [line.split(" ")[0] for line in log] == [f"{i}/6" for i in range(1, 7)] + ["6/6"] * 2
