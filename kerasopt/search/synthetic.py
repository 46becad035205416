"""A synthetic validation-loss surface with a known optimum, and a comparison of searchers on it.

The evidence for `CoarseToFine`: at an equal trial budget, how close does each searcher's
best trial come to the optimum? The objective costs nothing to evaluate (no training), so
the keras-tuner machinery itself (oracles, trial bookkeeping) is what runs.
"""

import math
import tempfile

import keras_tuner as kt
import numpy as np

from kerasopt._validation import check_int, check_range
from kerasopt.search.coarse_to_fine import CoarseToFineSearch

METHODS = ("coarse_to_fine", "random", "bayesian")


class NoisySurface:
    """Validation loss over (log10 learning rate u, log10 weight decay v), plus noise.

    loss = 0.3 + 0.08 q + 0.02 sin(3 u) (1 - exp(-q)), q = (u - u*)^2 + 0.8 (u - u*)(v - v*)
    + 0.5 (v - v*)^2, with (u*, v*) = (-2.5, -4.0): a tilted valley (rate and decay trade
    off, as they do in practice), a little ripple away from the optimum, and a
    "divergence" plateau of 2.3 (ln 10, a 10-class chance loss) for rates above 10^-0.5.
    Each observation adds Gaussian noise of std `noise` (the run-to-run noise of a real
    validation loss). Bounds: lr in [1e-6, 1], weight decay in [1e-7, 1e-1].

    Example:
        >>> s = NoisySurface()
        >>> round(s.true_loss(10 ** -2.5, 1e-4), 6), s.true_loss(0.5, 1e-4)
        (0.3, 2.3)
    """

    optimum = (-2.5, -4.0)
    lr_bounds = (1e-6, 1.0)
    wd_bounds = (1e-7, 1e-1)

    def __init__(self, noise=0.02):
        self.noise = check_range("noise", noise, low=0)

    def true_loss(self, lr, wd):
        u, v = math.log10(lr), math.log10(wd)
        if u > -0.5:
            return 2.3
        du, dv = u - self.optimum[0], v - self.optimum[1]
        q = du * du + 0.8 * du * dv + 0.5 * dv * dv
        return 0.3 + 0.08 * q + 0.02 * math.sin(3 * u) * (1 - math.exp(-q))

    def observe(self, lr, wd, rng):
        return self.true_loss(lr, wd) + self.noise * float(rng.normal())

    def distance(self, lr, wd):
        """Euclidean distance to the optimum in (log10 lr, log10 wd)."""
        return math.hypot(math.log10(lr) - self.optimum[0], math.log10(wd) - self.optimum[1])

    def hyperparameters(self):
        hp = kt.HyperParameters()
        hp.Float("learning_rate", *self.lr_bounds, sampling="log")
        hp.Float("weight_decay", *self.wd_bounds, sampling="log")
        return hp


def _tuner(method, surface, seed, trials, directory, options):
    class Objective:
        def run_trial(self, trial, **kwargs):
            rng = np.random.default_rng([seed, int(trial.trial_id)])
            values = trial.hyperparameters.values
            return {
                "val_loss": surface.observe(values["learning_rate"], values["weight_decay"], rng)
            }

    # keras-tuner treats seed=0 as "no seed" (a random one): give it seed + 1
    common = {
        "objective": kt.Objective("val_loss", "min"),
        "max_trials": trials,
        "seed": seed + 1,
        "hyperparameters": surface.hyperparameters(),
        "directory": directory,
        "project_name": f"{method}_{seed}",
        "overwrite": True,
    }
    if method == "coarse_to_fine":
        base, extra = CoarseToFineSearch, {"trials_per_round": math.ceil(trials / 3), **options}
    elif method == "random":
        base, extra = kt.RandomSearch, {}
    else:
        base, extra = kt.BayesianOptimization, {}
    return type(f"{method}_search", (Objective, base), {})(**common, **extra)


def compare(
    methods=METHODS,
    seeds=10,
    trials=30,
    noise=0.02,
    directory=None,
    progress=None,
    coarse_to_fine=None,
):
    """Run each searcher `seeds` times with `trials` trials on a `NoisySurface(noise)`.

    Coarse-to-fine runs 3 rounds (`trials_per_round = ceil(trials / 3)`) with the oracle's
    defaults, or the `CoarseToFine` arguments in the dict `coarse_to_fine`.

    Returns one dict per (method, seed): the best trial's (by its noisy score) rate, decay,
    observed and true loss, and its distance to the optimum. `progress(done, total)` is
    called after each search.

    Example:
        >>> rows = compare(["random"], seeds=1, trials=5)
        >>> sorted(rows[0])
        ['distance', 'learning_rate', 'method', 'observed_loss', 'seed', 'true_loss', 'weight_decay']
    """
    for method in methods:
        if method not in METHODS:
            raise ValueError(
                f"Argument `methods` must hold names from {METHODS}. Received: {method!r}"
            )
    check_int("seeds", seeds, minimum=1)
    check_int("trials", trials, minimum=3)
    surface = NoisySurface(noise)
    directory = directory or tempfile.mkdtemp(prefix="kerasopt_search_")
    rows, total = [], len(methods) * seeds
    for method in methods:
        for seed in range(seeds):
            tuner = _tuner(method, surface, seed, trials, directory, coarse_to_fine or {})
            tuner.search(verbose=0)
            best = tuner.oracle.get_best_trials(1)[0]
            lr, wd = (
                best.hyperparameters.values["learning_rate"],
                best.hyperparameters.values["weight_decay"],
            )
            rows.append(
                {
                    "method": method,
                    "seed": seed,
                    "learning_rate": lr,
                    "weight_decay": wd,
                    "observed_loss": float(best.score),
                    "true_loss": surface.true_loss(lr, wd),
                    "distance": surface.distance(lr, wd),
                }
            )
            if progress is not None:
                progress(len(rows), total)
    return rows
