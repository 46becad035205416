"""Under `CI`, proof cannot be skipped: missing offline assets fail the run and name the path,
and a skip in tests/faults or in a test that needs the assets is a failure (tests/conftest.py).

Checked in process against the harness itself (a subprocess pytest would cost 15 s of imports);
`CI=true KERASOPT_ASSETS=/nonexistent pytest tests/faults` is the same check end to end.
"""

from pathlib import Path

import pytest


@pytest.fixture
def harness(request):
    """The loaded tests/conftest.py module."""
    path = Path(__file__).with_name("conftest.py")
    for plugin in request.config.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) and Path(plugin.__file__) == path:
            return plugin
    raise AssertionError("tests/conftest.py is not loaded")


def test_ci_with_the_assets_hidden_fails_and_names_the_path(harness, monkeypatch, tmp_path):
    missing = tmp_path / "no_assets_here"
    monkeypatch.setattr(harness, "ASSETS", None)
    monkeypatch.setattr(harness, "ASSETS_WANTED", str(missing))
    monkeypatch.setattr(harness, "IN_CI", False)
    harness.pytest_sessionstart(None)  # outside CI: the asset tests skip, the run goes on
    monkeypatch.setattr(harness, "IN_CI", True)
    with pytest.raises(pytest.UsageError, match=f"the offline assets are missing: {missing}"):
        harness.pytest_sessionstart(None)


def test_which_skips_ci_refuses(harness):
    class Item:
        def __init__(self, path, fixtures, marks=()):
            self.path, self.fixturenames, self._marks = Path(path), fixtures, marks

        def iter_markers(self):
            return iter(self._marks)

    tests = Path(harness.__file__).parent
    assert harness.proof_cannot_skip(Item(tests / "faults/test_x.py", []))
    assert harness.proof_cannot_skip(Item(tests / "export/test_x.py", ["tmp_path", "keras_home"]))
    assert not harness.proof_cannot_skip(Item(tests / "optimizers/test_x.py", ["tmp_path"]))
    on_jax = pytest.mark.skipif(True, reason="TensorFlow only").mark
    off = pytest.mark.skipif(False, reason="never").mark
    assert harness._skipped_by_mark(Item(tests / "faults/test_x.py", [], [on_jax]))
    assert not harness._skipped_by_mark(Item(tests / "faults/test_x.py", [], [off]))
