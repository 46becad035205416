import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["kerasopt.curriculum.pacing", "kerasopt.curriculum.scores", "kerasopt.curriculum.sampler", "kerasopt.curriculum.continuation"])
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
