"""CoarseToFine: the documented shrink rule (restated with NumPy), bounds, resumption."""

import math

import keras_tuner as kt
import numpy as np
import pytest

from kerasopt.search import CoarseToFine, CoarseToFineSearch

DECLARED = {"lr": (1e-5, 1.0), "wd": (0.0, 0.1), "units": (4, 64)}


def space():
    hp = kt.HyperParameters()
    hp.Float("lr", *DECLARED["lr"], sampling="log")
    hp.Float("wd", *DECLARED["wd"])
    hp.Int("units", *DECLARED["units"], step=4)
    hp.Choice("act", ["relu", "tanh", "gelu"])
    return hp


def loss_of(values):
    """A surface with its optimum at lr=1e-2, wd=0.03, units=40, act='tanh'."""
    return (
        (math.log10(values["lr"]) + 2) ** 2
        + (100 * (values["wd"] - 0.03)) ** 2
        + ((values["units"] - 40) / 20) ** 2
        + (values["act"] != "tanh")
    )


class Synthetic(CoarseToFineSearch):
    def run_trial(self, trial, **kwargs):
        return {"loss": loss_of(trial.hyperparameters.values)}


def make(tmp_path, max_trials, overwrite=True, **kwargs):
    return Synthetic(
        objective=kt.Objective("loss", "min"),
        max_trials=max_trials,
        hyperparameters=space(),
        directory=tmp_path,
        project_name="c2f",
        overwrite=overwrite,
        **{"trials_per_round": 8, "top_k": 3, "margin": 0.1, "seed": 3, **kwargs},
    )


def expected_ranges(previous, trials, top_k, margin):
    """The rule of the docstring, restated: top-k by score, hull widened, clipped, snapped."""
    best = sorted(trials, key=lambda t: t["score"])[:top_k]
    out = {}
    for name in ("lr", "wd", "units"):
        lo, hi = previous[name]
        f = np.log if name == "lr" else (lambda v: np.asarray(v, dtype=float))
        g = np.exp if name == "lr" else (lambda v: v)
        u = f(np.array([t["values"][name] for t in best], dtype=float))
        width = float(f(hi) - f(lo))
        new_lo = g(max(float(f(lo)), u.min() - margin * width))
        new_hi = g(min(float(f(hi)), u.max() + margin * width))
        if name == "units":
            new_lo = max(lo, 4 + math.floor((new_lo - 4) / 4) * 4)
            new_hi = min(hi, 4 + math.ceil((new_hi - 4) / 4) * 4)
        out[name] = (new_lo, new_hi)
    out["act"] = [a for a in previous["act"] if a in {t["values"]["act"] for t in best}]
    return out


def table(oracle):
    return [
        {
            "id": t.trial_id,
            "round": oracle.round_of(t.trial_id),
            "score": float(t.score),
            "values": dict(t.hyperparameters.values),
        }
        for t in sorted(oracle.trials.values(), key=lambda t: t.trial_id)
    ]


@pytest.mark.portable
@pytest.mark.reference("search.CoarseToFine", "search.CoarseToFineSearch")
def test_ranges_shrink_as_documented_and_stay_inside_the_declared_bounds(tmp_path):
    tuner = make(tmp_path, max_trials=32)
    tuner.search(verbose=0)
    oracle = tuner.oracle
    rows = table(oracle)
    assert oracle.n_rounds_started == 4 and len(rows) == 32
    previous = {**{k: v for k, v in DECLARED.items()}, "act": ["relu", "tanh", "gelu"]}
    assert oracle.ranges(0) == {
        "lr": DECLARED["lr"],
        "wd": DECLARED["wd"],
        "units": DECLARED["units"],
        "act": ["relu", "tanh", "gelu"],
    }
    for r in range(1, 4):
        expected = expected_ranges(previous, [t for t in rows if t["round"] < r], 3, 0.1)
        got = oracle.ranges(r)
        for name in ("lr", "wd", "units"):
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-9, err_msg=name)
            lo, hi = got[name]
            assert previous[name][0] <= lo <= hi <= previous[name][1]  # nested
            assert DECLARED[name][0] <= lo and hi <= DECLARED[name][1]  # inside the declared
        assert got["act"] == expected["act"]
        for t in (t for t in rows if t["round"] == r):  # every trial sampled inside its round
            for name in ("lr", "wd", "units"):
                assert got[name][0] <= t["values"][name] <= got[name][1]
            assert t["values"]["act"] in got["act"]
        previous = got
    # the last round is much narrower than the first in log lr, and the search improves
    assert math.log(previous["lr"][1] / previous["lr"][0]) < 0.5 * math.log(1e5)
    best_by_round = [min(t["score"] for t in rows if t["round"] == r) for r in range(4)]
    assert best_by_round[3] <= best_by_round[0]


def test_search_resumes_from_its_directory_with_the_same_ranges(tmp_path):
    first = make(tmp_path, max_trials=12)  # stops in the middle of round 1
    first.search(verbose=0)
    ranges_1 = first.oracle.ranges(1)
    before = table(first.oracle)

    resumed = make(tmp_path, max_trials=24, overwrite=False)
    assert resumed.oracle.ranges(1) == ranges_1
    assert table(resumed.oracle) == before
    resumed.search(verbose=0)
    rows = table(resumed.oracle)
    assert len(rows) == 24 and rows[:12] == before
    assert [t["round"] for t in rows] == [i // 8 for i in range(24)]
    for t in rows[12:16]:  # the rest of round 1 uses round 1's ranges
        assert ranges_1["lr"][0] <= t["values"]["lr"] <= ranges_1["lr"][1]

    # the oracle's state alone round-trips too
    clone = CoarseToFine(kt.Objective("loss", "min"), max_trials=24, trials_per_round=8)
    clone.trials = resumed.oracle.trials
    clone.set_state(resumed.oracle.get_state())
    assert [clone.ranges(r) for r in range(3)] == [resumed.oracle.ranges(r) for r in range(3)]


def test_rounds_wait_for_the_previous_round_in_parallel_searches(tmp_path):
    oracle = CoarseToFine(
        kt.Objective("loss", "min"),
        max_trials=4,
        trials_per_round=2,
        hyperparameters=space(),
        seed=0,
    )
    oracle._set_project_dir(str(tmp_path), "p")
    a, b = oracle.create_trial("w0"), oracle.create_trial("w1")
    assert a.status == b.status == "RUNNING"
    assert oracle.create_trial("w2").status == "IDLE"  # round 0 still running
    for t in (a, b):
        oracle.update_trial(t.trial_id, {"loss": loss_of(t.hyperparameters.values)})
        t.status = "COMPLETED"
        oracle.end_trial(t)
    assert oracle.create_trial("w2").status == "RUNNING"
    assert oracle.round_of(oracle.ongoing_trials["w2"].trial_id) == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"trials_per_round": 0}, "trials_per_round"),
        ({"top_k": 0}, "top_k"),
        ({"margin": 0.0}, "margin"),
        ({"margin": 1.5}, "margin"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=f"Argument `{message}`"):
        CoarseToFine(kt.Objective("loss", "min"), **kwargs)
