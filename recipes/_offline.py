"""Offline assets for recipes and tests (imports neither Keras nor TensorFlow).

The machines that build kerasopt reach no network but the package registries, so
`keras.applications.X(weights="imagenet")` cannot download. `../shared/assets` (or the
folder `$KERASOPT_ASSETS` names) holds a ready Keras cache and a few real datasets.
Keras reads `KERAS_HOME` once, when it is imported, and writes its config file there, so
`use_offline_keras_home` copies the cache to a temporary folder and must run before the
first `import keras`.
"""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def find_assets():
    """The offline assets folder, or None: `$KERASOPT_ASSETS`, else `../shared/assets`."""
    env = os.environ.get("KERASOPT_ASSETS")
    candidates = [Path(env)] if env else [PROJECT_ROOT.parent / "shared" / "assets", Path.cwd().parent / "shared" / "assets"]
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    return None


def use_offline_keras_home(assets):
    """Copy `assets/keras_home` to a temporary KERAS_HOME (removed at exit); return its path.

    Does nothing and returns None when KERAS_HOME is already set by the user or the assets
    have no Keras cache.
    """
    if "KERAS_HOME" in os.environ or assets is None or not (Path(assets) / "keras_home").is_dir():
        return None
    if "keras" in sys.modules:
        raise RuntimeError("use_offline_keras_home() must run before keras is imported")
    home = Path(tempfile.mkdtemp(prefix="kerasopt-keras-home-"))
    shutil.copytree(Path(assets) / "keras_home", home, dirs_exist_ok=True)
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ["KERAS_HOME"] = str(home)
    return home
