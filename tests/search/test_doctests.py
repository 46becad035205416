"""The `Example:` sections of the search and distributed modules run and hold."""

import doctest
import importlib

import pytest

MODULES = [
    "kerasopt.search.coarse_to_fine",
    "kerasopt.search.ensemble",
    "kerasopt.search.lr_range",
    "kerasopt.search.spaces",
    "kerasopt.search.trial_callbacks",
    "kerasopt.search.hypermodels",
    "kerasopt.search.report",
    "kerasopt.search.synthetic",
    "kerasopt.distributed",
    "kerasopt.ensembles.combine",
    "kerasopt.callbacks.snapshot",
    "kerasopt.callbacks.averaging",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
