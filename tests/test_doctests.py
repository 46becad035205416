"""Every docstring example of the package runs, and every public object has one.

The examples are the `Example:` sections of the docstrings (the API reference shows them);
they run here in the default suite, one test per module, with doctest's ELLIPSIS and
NORMALIZE_WHITESPACE. Each example checks its output against something stated in the
docstring (a closed form, a NumPy computation, the documented behaviour).
"""

import doctest
import importlib
import inspect
import pkgutil

import pytest

import kerasopt
from tests._public_api import namespaces, public_objects

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def all_modules():
    """Every importable module of the package, private ones included (examples can live there)."""
    return sorted(m.name for m in pkgutil.walk_packages(kerasopt.__path__, prefix="kerasopt."))


def examples_of(obj):
    """The doctest examples in `obj`'s own docstring."""
    test = doctest.DocTestFinder(recurse=False).find(obj, obj.__name__)
    return sum(len(t.examples) for t in test)


def test_namespaces_are_discovered():
    # the package's public namespaces, found from the package itself, not typed in
    assert {"kerasopt.optimizers", "kerasopt.transfer", "kerasopt.datasets"} <= set(namespaces())
    assert all(not name.split(".")[-1].startswith("_") for name in namespaces())


@pytest.mark.parametrize("namespace", namespaces())
def test_every_public_object_has_a_doctest_example(namespace):
    missing = []
    for qualname, obj in public_objects(namespace):
        doc = inspect.getdoc(obj) or ""
        if "Example:" not in doc or examples_of(obj) == 0:
            missing.append(qualname)
    assert not missing, f"public objects without an `Example:` doctest: {missing}"


def test_top_level_objects_are_covered_through_their_namespace():
    # `kerasopt.load_model` and any other class or function exported by the package itself is the
    # same object as an export of one of its namespaces, so the checks above (and the API
    # reference, one page per namespace) cover it
    top = [
        name
        for name in kerasopt.__all__
        if inspect.isclass(getattr(kerasopt, name)) or inspect.isfunction(getattr(kerasopt, name))
    ]
    assert "load_model" in top
    covered = {id(obj) for namespace in namespaces() for _, obj in public_objects(namespace)}
    missing = [name for name in top if id(getattr(kerasopt, name)) not in covered]
    assert not missing, f"exported by `kerasopt` but by none of its namespaces: {missing}"


@pytest.mark.parametrize("module_name", all_modules())
def test_docstring_examples_run(module_name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing an example writes lands in the checkout
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    tests = [t for t in finder.find(module, module_name) if t.examples]
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, (
        f"{result.failed} of {result.attempted} examples failed in {module_name} (output above)"
    )
