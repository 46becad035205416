"""The served model and its versions, as TF Serving's model server manages them.

MODEL is one model (a run folder, a `.keras`, `.onnx` or `.tflite` file, a SavedModel folder:
served as version 1) or a TF Serving version tree `NAME/VERSION/` (integer folder names; each
version folder holds a SavedModel, `model.keras`, an `.onnx` or a `.tflite` file). For a version
tree the highest version is served, and `poll()` (called every few seconds by the server)
loads a new, higher `VERSION/` folder when one appears, then makes it the served version: a
request holds the version it started with until it is answered, so none is dropped; the old
version is unloaded (state END) when its last request is done. Write a new version under
another name and rename it into place, so that it is never seen half written.
"""

import logging
import shutil
import tempfile
import threading
from pathlib import Path

from kerasopt.serve.runtime import candidates, fastest

log = logging.getLogger("kerasopt.serve")


class ModelVersion:
    """One loaded version: its predictor, runtime, state and requests in flight."""

    def __init__(self, number, predictor, runtime, timings=None, scratch=None):
        self.number, self.predictor, self.runtime = number, predictor, runtime
        self.timings = timings or {runtime: None}
        self.state = "AVAILABLE"
        self._scratch = scratch
        self._in_flight = 0
        self._lock = threading.Lock()

    def acquire(self):
        with self._lock:
            self._in_flight += 1

    def release(self):
        with self._lock:
            self._in_flight -= 1
            if self.state == "UNLOADING" and self._in_flight == 0:
                self._unload()

    def retire(self):
        """Stop serving: unload now if idle, else when the last request in flight is done."""
        with self._lock:
            self.state = "UNLOADING"
            if self._in_flight == 0:
                self._unload()

    def _unload(self):
        self.predictor = None
        self.state = "END"
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
        log.info("version %s unloaded", self.number)


def _version_numbers(folder):
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())


def is_version_tree(path):
    """Whether `path` is a TF Serving tree: a folder of integer-named version folders only."""
    path = Path(path)
    return (
        path.is_dir()
        and not _holds_model(path)
        and any(p.is_dir() and p.name.isdigit() for p in path.iterdir())
    )


def _holds_model(path):
    try:
        candidates(path)
    except ValueError:
        return False
    return True


class ModelRepository:
    """The versions of one served model.

    Args:
        path: MODEL (see the module docstring).
        name: the model's name in the URLs; default the file's stem or the folder's name.
        runtime: "auto" (the fastest measured) or one of `kerasopt.serve.runtime.RUNTIMES`.
        batch_size: the server's max batch size (the runtimes are timed at each allowed size).
        threads: CPU threads for ONNX Runtime or LiteRT (None: their default).

    Raises:
        ValueError: `path` holds no model (the message says what was expected).

    Example:
        >>> import tempfile, keras
        >>> from pathlib import Path
        >>> from kerasopt.export import export_onnx
        >>> from kerasopt.serve import ModelRepository
        >>> core = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(),
        ...                          keras.layers.Dense(2, activation="softmax")])
        >>> tree = Path(tempfile.mkdtemp()) / "clf"
        >>> _ = export_onnx(core, tree / "1" / "model.onnx", class_names=["a", "b"])
        >>> repo = ModelRepository(tree)
        >>> repo.name, repo.current.number, repo.current.runtime, repo.image_size
        ('clf', 1, 'onnx', (8, 8))
    """

    def __init__(self, path, name=None, runtime="auto", batch_size=32, threads=None):
        self.path = Path(path)
        if not self.path.exists():
            raise ValueError(
                f"Argument `path` must be a model or a version tree. Received: path={str(path)!r} (not found)"
            )
        self.tree = is_version_tree(self.path)
        self.name = name or (self.path.stem if self.path.is_file() else self.path.name)
        self._runtime, self._batch_size, self._threads = runtime, batch_size, threads
        self._lock = threading.Lock()
        self.versions = {}
        if self.tree:
            numbers = _version_numbers(self.path)
            self.current = self._load(numbers[-1], self.path / str(numbers[-1]))
        else:
            self.current = self._load(1, self.path)
        self.versions[self.current.number] = self.current
        predictor = self.current.predictor
        self.class_names, self.image_size = predictor.class_names, predictor.image_size

    def _load(self, number, folder):
        scratch = Path(tempfile.mkdtemp(prefix="kerasopt-serve-"))
        try:
            found = candidates(folder, self._runtime, scratch)
            runtime, predictor, timings = fastest(found, self._batch_size, self._threads)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        log.info(
            "version %s: runtime %s (seconds per image at the best batch size: %s); seconds per "
            "call by batch size: %s; batch sizes run: %s",
            number,
            runtime,
            timings,
            {size: round(s, 5) for size, s in predictor.seconds.items()},
            sorted(predictor.instances),
        )
        return ModelVersion(number, predictor, runtime, timings, scratch)

    @classmethod
    def from_predictor(cls, name, predictor):
        """A repository serving one in-memory `kerasopt.export.Predictor` as version 1."""
        repo = cls.__new__(cls)
        repo.path, repo.tree, repo.name = None, False, name
        repo._lock = threading.Lock()
        repo.current = ModelVersion(1, predictor, predictor.format)
        repo.versions = {1: repo.current}
        repo.class_names, repo.image_size = predictor.class_names, predictor.image_size
        return repo

    def get(self, number=None):
        """The version to run a request with (acquired: `release()` it when answered), or None
        when `number` is not an available version."""
        with self._lock:
            version = self.current if number is None else self.versions.get(number)
            if version is None or version.state != "AVAILABLE":
                return None
            version.acquire()
            return version

    def poll(self):
        """Load a newer version of a version tree, if there is one; return its number or None.

        A folder that fails to load is logged and tried again at the next poll.
        """
        if not self.tree:
            return None
        numbers = _version_numbers(self.path)
        newest = numbers[-1] if numbers else None
        if newest is None or newest <= self.current.number or newest in self.versions:
            return None
        try:
            version = self._load(newest, self.path / str(newest))
        except Exception as error:  # not yet complete, or not a model: keep the served one
            log.warning("version %s not loaded: %s", newest, error)
            return None
        with self._lock:
            old, self.current = self.current, version
            self.versions[newest] = version
        old.retire()
        return newest

    def status(self):
        """TF Serving's model status: one entry per version, newest first."""
        return {
            "model_version_status": [
                {
                    "version": str(v.number),
                    "state": v.state,
                    "status": {"error_code": "OK", "error_message": ""},
                }
                for v in sorted(self.versions.values(), key=lambda v: -v.number)
            ]
        }

    def close(self):
        """Unload every version."""
        for version in list(self.versions.values()):
            version.retire()
