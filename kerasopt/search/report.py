"""The run folder of a search: trials table, score-per-round picture, top-k ensemble export."""

from pathlib import Path

import numpy as np

from kerasopt import distributed, plotting
from kerasopt._io import write_json, write_text
from kerasopt.ensembles import export
from kerasopt.search.coarse_to_fine import CoarseToFine
from kerasopt.search.ensemble import top_k_ensemble


def trials_table(tuner):
    """One dict per trial, by trial id: id, round (0 for non-coarse-to-fine oracles), status,
    score and every hyperparameter value (None where a conditional one was inactive).

    Example:
        >>> import tempfile, keras_tuner as kt
        >>> class T(kt.Tuner):
        ...     def run_trial(self, trial, **kwargs):
        ...         return trial.hyperparameters.Float("x", 0.0, 1.0)
        >>> tuner = T(oracle=CoarseToFine(max_trials=2, trials_per_round=1, seed=0),
        ...           directory=tempfile.mkdtemp(), project_name="doc")
        >>> tuner.search(verbose=0)
        >>> [(row["trial"], row["round"], row["status"]) for row in trials_table(tuner)]
        [('0', 0, 'COMPLETED'), ('1', 1, 'COMPLETED')]
    """
    oracle = tuner.oracle
    names = [hp.name for hp in oracle.hyperparameters.space]
    rows = []
    for trial in sorted(oracle.trials.values(), key=lambda t: int(t.trial_id)):
        values = trial.hyperparameters.values
        rows.append(
            {
                "trial": trial.trial_id,
                "round": oracle.round_of(trial.trial_id) if isinstance(oracle, CoarseToFine) else 0,
                "status": trial.status,
                "score": None if trial.score is None else float(trial.score),
                **{name: values.get(name) for name in names},
            }
        )
    return rows


def _cell(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def markdown_table(rows, columns):
    """A Markdown table of `rows` (dicts) over `columns`."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_report(
    tuner, out, plot_hyperparameters, log_axes=(), k=3, score="val_loss", test_data=None
):
    """Write `out/trials.{json,md}`, `out/rounds.png` and the top-`k` ensemble
    (`out/ensemble/model.keras` and its SavedModel), on the chief only; return the summary.

    With `test_data = (x, y)` (integer labels), the best model's and the ensemble's test
    accuracy are measured and reported.
    """
    out = Path(out)
    rows = trials_table(tuner)
    completed = [r for r in rows if r["status"] == "COMPLETED"]
    summary = {"trials": len(rows), "completed": len(completed), "k": min(k, len(completed))}
    ensemble = top_k_ensemble(tuner, summary["k"])
    if test_data is not None:
        x, y = test_data
        best = tuner.get_best_models(1)[0]
        summary["best_test_accuracy"] = float(np.mean(best.predict(x, verbose=0).argmax(-1) == y))
        summary["ensemble_test_accuracy"] = float(
            np.mean(ensemble.predict(x, verbose=0).argmax(-1) == y)
        )
    summary["best"] = min(completed, key=lambda r: r["score"]) if completed else None
    if not distributed.is_chief():
        return summary
    columns = ["trial", "round", "score"] + [
        c for c in rows[0] if c not in ("trial", "round", "status", "score")
    ]
    write_json(out / "trials.json", {"score": score, "rows": rows, "summary": summary})
    write_text(out / "trials.md", markdown_table(rows, columns) + "\n")
    plotting.plot_search_rounds(
        [{**r, score: r["score"]} for r in completed],
        plot_hyperparameters,
        out / "rounds.png",
        score=score,
        log_axes=log_axes,
    )
    export(ensemble, out / "ensemble")
    return summary
