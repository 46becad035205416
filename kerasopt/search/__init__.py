"""Hyperparameter search on keras-tuner: search spaces, the coarse-to-fine oracle, per-trial
callbacks, ensembles of the best trials, search ranges from the LR range test.

Needs keras-tuner (`pip install kerasopt[search]`). The search spaces are functions of the
submodule `kerasopt.search.spaces` (`optimizer`, `wrapper`, `schedule`, `finetune`,
`learning_rate`), each taking a `keras_tuner.HyperParameters`; the search guide shows them.
"""

from kerasopt.search import spaces as spaces  # the submodule of search spaces (see the docstring)
from kerasopt.search.coarse_to_fine import CoarseToFine, CoarseToFineSearch
from kerasopt.search.ensemble import top_k_ensemble
from kerasopt.search.lr_range import lr_range_from_finder
from kerasopt.search.trial_callbacks import PerTrialCallbacks

__all__ = [
    "CoarseToFine",
    "CoarseToFineSearch",
    "PerTrialCallbacks",
    "lr_range_from_finder",
    "top_k_ensemble",
]
