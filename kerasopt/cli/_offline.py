"""Offline assets for recipes and tests (imports neither Keras nor TensorFlow).

The machines that build kerasopt reach no network but the package registries, so
`keras.applications.X(weights="imagenet")` cannot download. `../shared/assets` (or the
folder `$KERASOPT_ASSETS` names) holds a ready Keras cache and a few real datasets.
Keras reads `KERAS_HOME` once, when it is imported, and writes its config file there, so
`use_offline_keras_home` copies the cache to a temporary folder and points Keras at it: through
the environment when Keras is not imported yet, else through Keras' one home-folder variable
(`import kerasopt`, which this module's package path runs, imports Keras first).

The copy (about 56 MB) is named `kerasopt-keras-home-<pid>-XXXX` in the temporary folder. It is
removed at exit (normal exit, an exception, Ctrl-C, and SIGTERM/SIGHUP, which are turned into
a normal exit when no other handler is installed); a process killed by SIGKILL cannot clean up,
so each call first removes the copies whose process no longer exists.
"""

import atexit
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from kerasopt._io import pid_alive

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CACHE_PREFIX = "kerasopt-keras-home-"


def find_assets():
    """The offline assets folder, or None: `$KERASOPT_ASSETS`, else `../shared/assets`."""
    env = os.environ.get("KERASOPT_ASSETS")
    candidates = (
        [Path(env)]
        if env
        else [PROJECT_ROOT.parent / "shared" / "assets", Path.cwd().parent / "shared" / "assets"]
    )
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
    remove_stale_caches()
    home = Path(tempfile.mkdtemp(prefix=f"{CACHE_PREFIX}{os.getpid()}-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    _exit_on_termination()
    shutil.copytree(Path(assets) / "keras_home", home, dirs_exist_ok=True)
    os.environ["KERAS_HOME"] = str(home)
    config = sys.modules.get("keras.src.backend.config")
    if config is not None:  # Keras read KERAS_HOME at its import; keras_home() returns this
        config._KERAS_DIR = str(home)
    return home


def remove_stale_caches():
    """Remove the Keras cache copies of processes that no longer exist; return their names."""
    removed = []
    for entry in Path(tempfile.gettempdir()).glob(f"{CACHE_PREFIX}*"):
        pid = entry.name[len(CACHE_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry.name)
    return removed


def _exit_on_termination():
    """SIGTERM and SIGHUP end the process through `sys.exit`, so atexit clean-up runs."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(signum) == signal.SIG_DFL:
                signal.signal(signum, lambda number, frame: sys.exit(128 + number))
        except ValueError:  # not the main thread: leave the handlers alone
            return
