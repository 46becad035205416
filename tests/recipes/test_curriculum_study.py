"""recipes.curriculum_study end to end on the MNIST test set (offline assets), in this process:
one seed, 3 epochs, a 1-epoch scoring model.

Checked against the documented pacing (Hacohen & Weinshall's exponential staircase,
ceil(g(t) N) examples), the documented label noise (round(0.4 N) labels replaced), sampling
bounds for the random order, and the ordering the technique rests on: a model trained on the
other fold gives wrongly labelled examples high loss, so easiest-first pools hold fewer of
them than a random pool, and hardest-first pools more."""

import json
import math
from fractions import Fraction

import pytest

from tests.recipes._outputs import check_folder, check_png


@pytest.mark.usefixtures("assets")
def test_curriculum_study_one_seed(tmp_path):
    from recipes.curriculum_study import main

    epochs, start, noise = 3, "0.2", 0.4
    main(
        ["--seeds", "0", "--epochs", str(epochs), "--score-epochs", "1", "--noise", str(noise)]
        + ["--pacing", "exponential", "--start", str(start), "--out", str(tmp_path)]
    )
    check_folder(tmp_path, ["curves.png", "results.json", "results.md"])
    check_png(tmp_path / "curves.png")
    run = json.loads((tmp_path / "results.json").read_text())["per_seed"][0]
    n_train, n_test = 7000, 3000  # the documented split of the 10,000 test digits
    # ExponentialPacing(start, 1.5, 2): start * 1.5 ** (t // 2), capped at 1, in exact arithmetic
    g = [min(1, Fraction(start) * Fraction(3, 2) ** (t // 2)) for t in range(epochs)]
    shares = [math.ceil(share * n_train) / n_train for share in g]
    for arm in ("curriculum", "anti", "random", "all data"):
        r = run[arm]
        assert len(r["accuracy"]) == len(r["nll"]) == epochs  # one record per epoch
        for a in r["accuracy"]:
            assert a * n_test == pytest.approx(round(a * n_test), abs=1e-6)
        assert r["pool_share"] == pytest.approx([1.0] * epochs if arm == "all data" else shares)
    assert run["all data"]["noisy_in_pool"] == pytest.approx([round(noise * n_train) / n_train] * 3)
    first = {arm: run[arm]["noisy_in_pool"][0] for arm in ("curriculum", "anti", "random")}
    # a random pool of m = 1,400 of the 7,000 (2,800 noisy) is hypergeometric around 0.4
    m = round(float(start) * n_train)
    sd = math.sqrt(noise * (1 - noise) / m * (n_train - m) / (n_train - 1))
    assert abs(first["random"] - noise) < 5 * sd
    assert first["curriculum"] < noise - 5 * sd < noise + 5 * sd < first["anti"]
