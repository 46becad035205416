"""pytest plugin (loaded by tests/conftest.py): the `reference` marker and its JUnit trail.

A test that checks a public object against an independent reference (NumPy, SciPy,
scikit-learn, a closed form, a statistical bound) declares it:

    @pytest.mark.reference("optimizers.Lookahead")          # one or more public objects
    def test_matches_numpy_restatement(): ...

or for a whole module, `pytestmark = [pytest.mark.portable, pytest.mark.reference("...")]`.
A name is `namespace.Name` (or `kerasopt.namespace.Name`) of a public export
(`tests/_public_api.py`); a typo or a private name stops the run at collection, naming the
test and the name.

Each reference test carries JUnit properties `reference` (one per object, qualified
`kerasopt.namespace.Name`) and `backend` (the Keras backend it ran on). pytest's junitxml
writes them (with or without pytest-xdist: the properties travel with the reports).
`tests/backends/matrix.py` reads them back: the backend matrix ticks an object only when one
of its reference tests ran and passed on that backend.

`KERASOPT_JUNIT_DIR=DIR` makes every run write `DIR/<backend>-<pid>.xml` (unless
`--junitxml` is given), so CI's two runs, or any number of shards, leave one file each.
"""

import difflib
import os

import pytest

MARKER = "reference"


def public_names():
    """Qualified names ("kerasopt.ns.Name") of every public object."""
    from tests._public_api import namespaces, public_objects

    return {name for ns in namespaces() for name, _ in public_objects(ns)}


def qualified(name):
    """ "optimizers.Lookahead" or "kerasopt.optimizers.Lookahead" -> the qualified name."""
    return name if name.startswith("kerasopt.") else f"kerasopt.{name}"


def referenced(item):
    """The qualified names an item's `reference` marks declare, in order, without repeats."""
    names = []
    for mark in item.iter_markers(MARKER):
        for name in mark.args:
            if not isinstance(name, str):
                raise pytest.UsageError(
                    f"{item.nodeid}: pytest.mark.reference takes public names as strings "
                    f'("namespace.Name"). Received: {name!r}'
                )
            names.append(qualified(name))
    return list(dict.fromkeys(names))


def backend():
    import keras

    return keras.backend.backend()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        'reference(*names): the test checks these public objects ("namespace.Name") against '
        "an independent reference; the backend matrix reads the outcomes from JUnit XML",
    )
    folder = os.environ.get("KERASOPT_JUNIT_DIR")
    if folder and not config.option.xmlpath and not hasattr(config, "workerinput"):
        # before junitxml's own pytest_configure (tryfirst), which opens the file
        config.option.xmlpath = os.path.join(folder, f"{backend()}-{os.getpid()}.xml")


def pytest_collection_modifyitems(config, items):
    known = None
    unknown = []
    for item in items:
        names = referenced(item)
        if not names:
            continue
        if known is None:
            known = public_names()
        for name in names:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {close[0].removeprefix('kerasopt.')!r}?)" if close else ""
                unknown.append(f"{item.nodeid}: reference({name!r}) is not public{hint}")
            item.user_properties.append(("reference", name))
        item.user_properties.append(("backend", backend()))
    if unknown:
        raise pytest.UsageError(
            "pytest.mark.reference names objects that kerasopt does not export:\n"
            + "\n".join(unknown)
        )
