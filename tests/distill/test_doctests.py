import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["kerasopt.distill.losses", "kerasopt.distill.distiller", "kerasopt.distill.hints"])
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
