"""A 3-member snapshot ensemble, and a subprocess in which kerasopt cannot be imported."""

import os
import subprocess
import sys
import textwrap

import pytest

from tests.export._models import snapshot_ensemble

GUARD = textwrap.dedent(
    """
    import sys
    sys.modules["kerasopt"] = None  # any import of kerasopt below raises ImportError
    try:
        import kerasopt  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("kerasopt is importable: the isolation failed")
    """
)


@pytest.fixture(scope="module")
def ensemble3(tmp_path_factory):
    return snapshot_ensemble(tmp_path_factory.mktemp("snapshots"))


@pytest.fixture
def isolated(tmp_path):
    """run(script, *args): run `script` in a fresh Python where kerasopt cannot be imported
    (guarded in sys.modules, cwd a temporary folder, no PYTHONPATH); return its stdout."""

    def run(script, *args):
        (tmp_path / "isolated.py").write_text(GUARD + textwrap.dedent(script))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        result = subprocess.run(
            [sys.executable, "isolated.py", *map(str, args)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    return run
