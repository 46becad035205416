"""recipes.distill_mnist end to end on the MNIST test set (offline assets), in this process:
one seed, one epoch for the teacher members, the hint stage and the students.

Checked: the share of the teacher's NLL gain each distilled student recovers, recomputed from
the reported NLLs with the documented formula; accuracies as counts over the documented
3,000 held-out digits; every model above chance beyond sampling error; and the teacher (three
784-512-512-10 members averaged) ahead of the thin label-trained student it is meant to teach."""

import json
import math

import pytest

from tests.recipes._outputs import check_folder


@pytest.mark.usefixtures("assets")
def test_distill_mnist_one_epoch(tmp_path):
    from recipes.distill_mnist import main

    main(
        ["--seeds", "0", "--epochs", "1", "--teacher-epochs", "1", "--hint-epochs", "1"]
        + ["--out", str(tmp_path)]
    )
    check_folder(tmp_path, ["results.json", "results.md"])
    result = json.loads((tmp_path / "results.json").read_text())
    run, summary = result["per_seed"][0], result["summary"]
    arms = ["thin/labels", "thin/distilled", "deep/labels", "deep/distilled", "deep/hints"]
    assert sorted(run) == sorted(arms + ["teacher", "teacher on its training images"])
    n_test = 3000
    for key, s in run.items():
        n = 7000 if key == "teacher on its training images" else n_test
        assert s["accuracy"] * n == pytest.approx(round(s["accuracy"] * n), abs=1e-6)
        assert s["accuracy"] > 0.1 + 5 * math.sqrt(0.09 / n), key
        assert 0 < s["nll"] < math.log(10), key  # better than the uniform prediction
    for kind, method in (("thin", "distilled"), ("deep", "distilled"), ("deep", "hints")):
        labels, distilled = run[f"{kind}/labels"]["nll"], run[f"{kind}/{method}"]["nll"]
        share = (labels - distilled) / (labels - run["teacher"]["nll"])
        assert summary[f"{kind}/{method}"]["nll_gain_recovered"]["per_seed"] == [
            pytest.approx(share, rel=1e-12)
        ]
    assert run["teacher"]["nll"] < run["thin/labels"]["nll"]
    assert run["teacher"]["accuracy"] > run["thin/labels"]["accuracy"]
