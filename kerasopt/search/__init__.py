"""Hyperparameter search on keras-tuner: search spaces, the coarse-to-fine oracle, per-trial
callbacks, ensembles of the best trials, search ranges from the LR range test.

Needs keras-tuner (`pip install kerasopt[search]`).
"""

from kerasopt.search import spaces
from kerasopt.search.coarse_to_fine import CoarseToFine, CoarseToFineSearch
from kerasopt.search.ensemble import top_k_ensemble
from kerasopt.search.lr_range import lr_range_from_finder
from kerasopt.search.trial_callbacks import PerTrialCallbacks

__all__ = [
    "CoarseToFine",
    "CoarseToFineSearch",
    "PerTrialCallbacks",
    "lr_range_from_finder",
    "spaces",
    "top_k_ensemble",
]
