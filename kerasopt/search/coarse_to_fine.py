"""Coarse-to-fine random search as a keras-tuner oracle (CS231n, "Hyperparameter optimization").

TensorFlow/Keras-agnostic: the oracle only proposes values; keras-tuner runs the trials.
"""

import math
import random

import keras_tuner as kt

from kerasopt._validation import check_int, check_range
from kerasopt.search.trial_callbacks import PerTrialCallbacks

_RUNNING, _IDLE, _STOPPED = "RUNNING", "IDLE", "STOPPED"
_NUMERIC = (kt.engine.hyperparameters.Float, kt.engine.hyperparameters.Int)
_DISCRETE = (kt.engine.hyperparameters.Choice, kt.engine.hyperparameters.Boolean)


class CoarseToFine(kt.Oracle):
    """Rounds of random search; each round samples inside ranges shrunk around the best trials.

    CS231n (Karpathy, "Neural Networks Part 3", sec. "Hyperparameter optimization"): search
    coarse to fine, with random rather than grid points and rates on a log scale: first wide
    ranges and short runs, then narrower ranges around the values that worked. Bergstra &
    Bengio (2012) show why random points beat a grid when few hyperparameters matter.

    Trial i (0-based, in creation order) belongs to round `i // trials_per_round`. Round 0
    samples each hyperparameter from its declared range, as `keras_tuner.RandomSearch`
    does (log-uniformly for `sampling="log"`). Round r + 1 starts once every trial of
    round r has ended (in a distributed search the workers wait, keras-tuner's "IDLE"
    status); its ranges are then computed once and kept:

    1. T = the `top_k` best completed trials so far (all rounds; `oracle.get_best_trials`).
    2. Float and Int: with [a, b] the current range of the hyperparameter, mapped to
       u = log(x) for `sampling="log"` and u = x otherwise, and w = u(b) - u(a), the new
       range is [max(u(a), min_T u - margin * w), min(u(b), max_T u + margin * w)]
       mapped back: the hull of T's values widened by `margin` of the current width on each
       side, clipped to the current range. Int bounds are then rounded outward to the
       hyperparameter's grid (`min_value + k * step`); so are linear Floats with a `step`.
    3. Choice and Boolean: the values T used (in declaration order).
    4. Fixed hyperparameters, and any the trials of T did not use, keep their range.

    Every range is therefore inside the previous one, hence inside the declared bounds,
    and never narrower than 2 * margin times the previous width (numeric ones). The ranges
    of every round and each trial's round are part of the oracle's state (`get_state` /
    `set_state`), so a search resumed from its directory (`overwrite=False`) continues with
    the same ranges.

    Example:
        >>> import tempfile
        >>> hp = kt.HyperParameters()
        >>> _ = hp.Float("lr", 1e-4, 1.0, sampling="log")
        >>> oracle = CoarseToFine(kt.Objective("loss", "min"), max_trials=8, trials_per_round=4,
        ...                       top_k=2, margin=0.1, seed=0, hyperparameters=hp)
        >>> class Quadratic(kt.Tuner):
        ...     def run_trial(self, trial, **kwargs):
        ...         return {"loss": (math.log10(trial.hyperparameters["lr"]) + 2.0) ** 2}
        >>> tuner = Quadratic(oracle=oracle, directory=tempfile.mkdtemp(), project_name="doc")
        >>> tuner.search(verbose=0)
        >>> lo, hi = oracle.ranges(1)["lr"]
        >>> bool(1e-4 <= lo < hi <= 1.0 and math.log(hi / lo) < math.log(1e4))
        True

    References:
        Bergstra & Bengio, "Random Search for Hyper-Parameter Optimization", JMLR 13, 2012.

    Args:
        objective: the keras-tuner objective (name, `kt.Objective` or a list of them).
        max_trials: total number of trials, integer >= 1.
        trials_per_round: trials of each round, integer >= 1.
        top_k: number of best trials that set the next round's ranges, integer >= 1.
        margin: widening of the best trials' hull, as a fraction of the current width, in
            (0, 1].
        seed: seed of the sampling.
        hyperparameters: as for `keras_tuner.Oracle`.
        allow_new_entries: as for `keras_tuner.Oracle`.
        tune_new_entries: as for `keras_tuner.Oracle`.
        max_retries_per_trial: as for `keras_tuner.Oracle`.
        max_consecutive_failed_trials: as for `keras_tuner.Oracle`.
    """

    def __init__(
        self,
        objective=None,
        max_trials=30,
        trials_per_round=10,
        top_k=3,
        margin=0.25,
        seed=None,
        hyperparameters=None,
        allow_new_entries=True,
        tune_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
    ):
        check_int("max_trials", max_trials, minimum=1)
        self.trials_per_round = check_int("trials_per_round", trials_per_round, minimum=1)
        self.top_k = check_int("top_k", top_k, minimum=1)
        self.margin = check_range("margin", margin, 0, 1, low_inclusive=False)
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            seed=seed,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        if seed is not None:  # keras-tuner's Oracle replaces seed=0 by a random seed
            self.seed = self._seed_state = seed
        self._ranges = []  # one dict per started round: name -> [lo, hi] or list of values
        self._round_of = {}  # trial_id -> round

    # --- public views -------------------------------------------------------------------
    @property
    def n_rounds_started(self):
        """Number of rounds whose ranges are fixed (the current one included)."""
        return len(self._ranges)

    def round_of(self, trial_id):
        """The round a trial belongs to."""
        return self._round_of[str(trial_id)]

    def ranges(self, round_index):
        """`{name: (lo, hi)}` for Float/Int, `{name: [values]}` for Choice/Boolean, of a
        started round (declared ranges for hyperparameters the round did not narrow)."""
        check_int("round_index", round_index, minimum=0, maximum=max(len(self._ranges) - 1, 0))
        narrowed = self._ranges[round_index] if self._ranges else {}
        out = {}
        for hp in self.hyperparameters.space:
            current = narrowed.get(hp.name, _declared(hp))
            if current is not None:
                out[hp.name] = tuple(current) if isinstance(hp, _NUMERIC) else list(current)
        return out

    # --- keras-tuner Oracle API ---------------------------------------------------------
    def populate_space(self, trial_id):
        round_index = len(self.trials) // self.trials_per_round
        if round_index >= len(self._ranges):
            if self._ranges and any(
                t.status == _RUNNING
                for tid, t in self.trials.items()
                if self._round_of.get(tid) == len(self._ranges) - 1
            ):
                return {"status": _IDLE}
            while len(self._ranges) <= round_index:
                self._ranges.append(self._shrink(self._ranges[-1]) if self._ranges else {})
        values = self._sample(self._ranges[round_index])
        if values is None:
            return {"status": _STOPPED}
        self._round_of[str(trial_id)] = round_index
        return {"status": _RUNNING, "values": values}

    def get_state(self):
        state = super().get_state()
        state["coarse_to_fine"] = {
            "trials_per_round": self.trials_per_round,
            "top_k": self.top_k,
            "margin": self.margin,
            "ranges": [{k: list(v) for k, v in r.items()} for r in self._ranges],
            "round_of": dict(self._round_of),
        }
        return state

    def set_state(self, state):
        super().set_state(state)
        saved = state["coarse_to_fine"]
        self.trials_per_round, self.top_k = saved["trials_per_round"], saved["top_k"]
        self.margin = saved["margin"]
        self._ranges = [dict(r) for r in saved["ranges"]]
        self._round_of = dict(saved["round_of"])

    # --- the rule -----------------------------------------------------------------------
    def _shrink(self, current):
        best = self.get_best_trials(self.top_k)
        if not best:  # every trial failed: keep the ranges
            return dict(current)
        new = {}
        for hp in self.hyperparameters.space:
            bounds = current.get(hp.name, _declared(hp))
            used = [
                t.hyperparameters.values[hp.name]
                for t in best
                if hp.name in t.hyperparameters.values
            ]
            if bounds is None or not used:
                if bounds is not None and hp.name in current:
                    new[hp.name] = list(bounds)
                continue
            if isinstance(hp, _NUMERIC):
                new[hp.name] = _narrow_numeric(hp, bounds, used, self.margin)
            else:
                kept = [v for v in bounds if v in used]
                new[hp.name] = kept or list(bounds)
        return new

    def _sample(self, ranges):
        collisions = 0
        while True:
            hps = kt.HyperParameters()
            for hp in self.hyperparameters.space:
                hps.merge([hp])
                if hps.is_active(hp):
                    hps.values[hp.name] = self._sample_one(hp, ranges.get(hp.name))
                    self._seed_state += 1
            if not self._duplicate(hps.values):
                return hps.values
            collisions += 1
            if collisions > self._max_collisions:
                return None

    def _sample_one(self, hp, bounds):
        if bounds is None:
            return hp.random_sample(self._seed_state)
        if isinstance(hp, _NUMERIC):
            lo, hi = bounds
            if lo == hi:
                return lo
            config = {**hp.get_config(), "min_value": lo, "max_value": hi}
            if config.get("default") is not None and not lo <= config["default"] <= hi:
                config["default"] = lo
            return type(hp).from_config(config).random_sample(self._seed_state)
        return random.Random(self._seed_state).choice(list(bounds))


def _declared(hp):
    """The declared range: [min, max] for Float/Int, the values for Choice/Boolean, else None."""
    if isinstance(hp, _NUMERIC):
        return [hp.min_value, hp.max_value]
    if isinstance(hp, kt.engine.hyperparameters.Choice):
        return list(hp.values)
    if isinstance(hp, kt.engine.hyperparameters.Boolean):
        return [False, True]
    return None


def _narrow_numeric(hp, bounds, used, margin):
    lo, hi = bounds
    log = hp.sampling == "log"
    forward = math.log if log else float
    inverse = math.exp if log else float
    a, b = forward(lo), forward(hi)
    width = b - a
    u = [forward(v) for v in used]
    new_lo = max(a, min(u) - margin * width)
    new_hi = min(b, max(u) + margin * width)
    if new_lo > new_hi:  # the best trials lie outside the current range: keep it
        return [lo, hi]
    new_lo, new_hi = min(max(inverse(new_lo), lo), hi), max(min(inverse(new_hi), hi), lo)
    step = getattr(hp, "step", None)
    if isinstance(hp, kt.engine.hyperparameters.Int):
        step = step or 1
    if step and not (log and isinstance(hp, kt.engine.hyperparameters.Float)):
        origin = hp.min_value
        new_lo = max(lo, origin + math.floor((new_lo - origin) / step + 1e-9) * step)
        new_hi = min(hi, origin + math.ceil((new_hi - origin) / step - 1e-9) * step)
        if isinstance(hp, kt.engine.hyperparameters.Int):
            new_lo, new_hi = int(new_lo), int(new_hi)
    return [new_lo, new_hi]


class CoarseToFineSearch(PerTrialCallbacks, kt.Tuner):
    """A keras-tuner `Tuner` driven by the `CoarseToFine` oracle, with per-trial callbacks.

    The counterpart of `keras_tuner.RandomSearch`: every argument of `CoarseToFine` plus
    those of `keras_tuner.Tuner` (`hypermodel`, `directory`, `project_name`, `overwrite`,
    `executions_per_trial`, `distribution_strategy`, ...). Callbacks passed to `search`
    are configured per trial (`PerTrialCallbacks`).

    Example:
        >>> import tempfile
        >>> class Parabola(CoarseToFineSearch):
        ...     def run_trial(self, trial, **kwargs):
        ...         return (trial.hyperparameters.Float("x", -1.0, 1.0) - 0.3) ** 2
        >>> tuner = Parabola(max_trials=6, trials_per_round=3, top_k=1, seed=1,
        ...                  directory=tempfile.mkdtemp(), project_name="doc")
        >>> tuner.search(verbose=0)
        >>> len(tuner.oracle.trials), tuner.oracle.n_rounds_started
        (6, 2)
    """

    def __init__(
        self,
        hypermodel=None,
        objective=None,
        max_trials=30,
        trials_per_round=10,
        top_k=3,
        margin=0.25,
        seed=None,
        hyperparameters=None,
        tune_new_entries=True,
        allow_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
        **kwargs,
    ):
        oracle = CoarseToFine(
            objective=objective,
            max_trials=max_trials,
            trials_per_round=trials_per_round,
            top_k=top_k,
            margin=margin,
            seed=seed,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
