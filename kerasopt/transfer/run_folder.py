"""The run folder of `fine_tune`: staged, published whole by rename, resumable after a kill.

Layout, for a run folder RUN:

- `RUN.partial/` (staging): everything the run writes (log.csv, tensorboard/, checkpoints/,
  snapshots/, ensemble/, model.keras, saved_model/, metrics.json, class_names.json,
  training_curves.png, confusion_matrix.png, top_losses.png) goes here first.
- `RUN.resume/` (resume state): `state.json` (the run's configuration, the completed phases
  with their metrics and history, the last completed epoch of the current phase), the weights
  and optimizer state of that epoch (`<phase>-NNNN.weights.h5`), the early-stopping best
  weights, the end weights of each completed phase, and `owner` (the writing process' id).
- Publishing: when every file is written, `RUN.partial` becomes `RUN` in one rename (an
  existing RUN is swapped out atomically, see `kerasopt._io.replace_path`), then RUN.resume is
  removed.

Guarantees (against the death of the process at any instant, SIGKILL included):

- RUN is never partly written: it is absent, the complete previous run, or the complete new
  run. A failed or killed run leaves RUN as it was, plus RUN.partial/ and RUN.resume/.
- Each file is written under a temporary name (`.NAME.XXXX`) and renamed; a resume removes the
  temporaries of the killed process. Each file of the state is written that way; `state.json` is
  written last and names the files it needs, so the state always describes one completed
  epoch whose files exist. log.csv is rewritten from that state at each epoch end, so it has
  one line per completed epoch, no duplicates after a resume.
- `RunFolder(..., resume=True)` continues from the last completed epoch of the phase that was
  running (weights, optimizer state with its step count, schedules, averages, snapshot
  manifest, early-stopping and best-checkpoint state, timers, dropout seeds); a completed
  phase is not trained again.
- An existing, non-empty RUN is refused unless `overwrite=True`; with it, RUN is replaced only
  when the new run has succeeded. An interrupted run is refused unless `resume=True`
  (continue it) or `overwrite=True` (start over). Two processes cannot write the same run.

Not guaranteed: the TensorBoard event files are append-only logs written in place; a killed
process' last record may be cut (TensorBoard reads up to it). Durability against a power cut
(no `fsync`).
"""

import importlib.util
import json
import os
import shutil
import time
import warnings
from pathlib import Path

import keras
import numpy as np

from kerasopt import ensembles, plotting
from kerasopt._faults import fault_point
from kerasopt._io import atomic_path, pid_alive, remove_stale, replace_path, write_json, write_text
from kerasopt.export.serving import write_saved_model

STAGING_SUFFIX = ".partial"
STATE_SUFFIX = ".resume"
_STATE = "state.json"
_OWNER = "owner"


class RunFolderError(ValueError):
    """The run folder cannot be used as asked (exists, interrupted run, nothing to resume).

    `fine_tune` raises it before any work. A `ValueError`.

    Example:
        >>> import os, tempfile, numpy as np, tensorflow as tf
        >>> from kerasopt.transfer import ImageData, fine_tune
        >>> batches = tf.data.Dataset.from_tensor_slices((np.zeros((4, 32, 32, 3)), [0, 1, 0, 1])).batch(2)
        >>> data = ImageData(batches, batches, ["a", "b"], 4, 4, (32, 32), 2, "memory")
        >>> run = tempfile.mkdtemp()  # a folder that already holds something
        >>> _ = open(os.path.join(run, "metrics.json"), "w").write("{}")
        >>> fine_tune(data, run, weights=None)
        Traceback (most recent call last):
        ...
        kerasopt.transfer.run_folder.RunFolderError: '...' already holds a run: pass overwrite=True ...
        >>> fine_tune(data, run, weights=None, resume=True)
        Traceback (most recent call last):
        ...
        kerasopt.transfer.run_folder.RunFolderError: Nothing to resume for '...' (it holds a finished run): ...
    """


def staging_dir(run_dir):
    """`RUN.partial`: where the run is written before it is published."""
    run_dir = Path(run_dir)
    return run_dir.with_name(run_dir.name + STAGING_SUFFIX)


def state_dir(run_dir):
    """`RUN.resume`: the state `resume=True` continues from."""
    run_dir = Path(run_dir)
    return run_dir.with_name(run_dir.name + STATE_SUFFIX)


def _owner(state):
    try:
        return int((state / _OWNER).read_text())
    except (OSError, ValueError):
        return None


def _holds_run(path):
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def check_run_dir(run_dir, overwrite=False, resume=False):
    """Raise `RunFolderError` (before any work) when `run_dir` cannot be used as asked.

    Also removes what killed runs left that no run needs: `RUN.old-<pid>` folders of dead
    processes, and a `RUN.resume/` of a run that was published.
    """
    run_dir = Path(run_dir)
    if run_dir.name in ("", ".", ".."):
        raise RunFolderError(
            f"Argument `run_dir` must name a folder. Received: run_dir={str(run_dir)!r}"
        )
    remove_stale(run_dir.parent, f"{run_dir.name}.old-")
    staging, state = staging_dir(run_dir), state_dir(run_dir)
    owner = _owner(state)
    if owner is not None and owner != os.getpid() and pid_alive(owner):
        raise RunFolderError(
            f"Another process (pid {owner}) is writing the run folder {str(run_dir)!r}"
        )
    if state.exists() and not staging.exists():
        shutil.rmtree(state)  # published, or never started: nothing to resume
    interrupted = (state / _STATE).is_file()
    if resume:
        if not interrupted:
            done = " (it holds a finished run)" if _holds_run(run_dir) else ""
            raise RunFolderError(
                f"Nothing to resume for {str(run_dir)!r}{done}: no interrupted run at {str(staging)!r}"
            )
        return
    if staging.exists() and not overwrite:
        raise RunFolderError(
            f"{str(run_dir)!r} has an interrupted run ({str(staging)!r}): continue it with resume=True "
            "(--resume), or start over with overwrite=True (--overwrite)"
        )
    if _holds_run(run_dir) and not overwrite:
        raise RunFolderError(
            f"{str(run_dir)!r} already holds a run: pass overwrite=True (--overwrite) to replace it once the "
            "new run has succeeded, or choose another folder"
        )


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


class RunFolder:
    """Open the staging folder and resume state of `run_dir` (see the module docstring).

    Args:
        run_dir: the final run folder.
        config: a JSON-able description of the run; `resume=True` refuses a different one.
        overwrite: replace an existing run (on success) or an interrupted one (at once).
        resume: continue the interrupted run.
    """

    def __init__(self, run_dir, config, overwrite=False, resume=False):
        check_run_dir(run_dir, overwrite, resume)
        self.final = Path(run_dir)
        self.staging, self.state_path = staging_dir(run_dir), state_dir(run_dir)
        config = _jsonable(config)
        if resume:
            self.state = json.loads((self.state_path / _STATE).read_text())
            changed = sorted(
                k
                for k in set(config) | set(self.state["config"])
                if config.get(k) != self.state["config"].get(k)
            )
            if changed:
                details = ", ".join(
                    f"{k}: {self.state['config'].get(k)!r} -> {config.get(k)!r}" for k in changed
                )
                raise RunFolderError(
                    f"Cannot resume {str(self.final)!r} with other settings ({details})"
                )
        else:
            for path in (self.staging, self.state_path):
                if path.exists():
                    shutil.rmtree(path)
            self.state = {"config": config, "phases": {}, "current": None}
        self.staging.mkdir(parents=True, exist_ok=True)
        self.state_path.mkdir(parents=True, exist_ok=True)
        for folder in (self.staging, self.state_path):
            _remove_temporaries(folder)
        write_text(self.state_path / _OWNER, str(os.getpid()))
        self._save_state()

    # --- state -----------------------------------------------------------------------------
    def _save_state(self):
        write_json(self.state_path / _STATE, self.state)
        keep = {_STATE, _OWNER}
        for record in [*self.state["phases"].values(), self.state["current"] or {}]:
            keep.update(v for k, v in record.items() if k.endswith("file") and v)
        for path in self.state_path.iterdir():
            if path.name not in keep and not path.name.startswith("."):
                path.unlink(missing_ok=True)

    def note(self, key):
        """A value `remember` stored in the state (None when absent)."""
        return self.state.get("notes", {}).get(key)

    def remember(self, key, value):
        """Store a JSON-able `value` in the state, for a resumed run to reuse (e.g. the plan
        of a phase, decided from measured times that a second measurement would change)."""
        self.state.setdefault("notes", {})[key] = _jsonable(value)
        self._save_state()

    @property
    def completed(self):
        """Metrics and history of the completed phases, by name, in order."""
        return self.state["phases"]

    def epochs_done(self):
        """Epochs trained so far over all phases (completed ones and the current one)."""
        current = self.state["current"] or {}
        return sum(len(p["history"]["loss"]) for p in self.completed.values()) + current.get(
            "epochs_done", 0
        )

    def history(self, extra=None):
        """The history over the completed phases, followed by `extra` (a phase's own)."""
        merged = {}
        for record in [*self.completed.values(), {"history": extra or {}}]:
            for key, values in record["history"].items():
                merged.setdefault(key, []).extend(values)
        return merged

    def complete_phase(self, name, model, history, metrics):
        """Record a finished phase (its metrics, history and end weights)."""
        weights_file = f"{name}-end.npz"
        with atomic_path(self.state_path / weights_file) as tmp:
            _save_named_weights(model, tmp)
        self.state["phases"][name] = {
            "metrics": metrics,
            "history": history,
            "weights_file": weights_file,
        }
        self.state["current"] = None
        self._save_state()

    def load_phase_end(self, name, model):
        """Put the end weights of the completed phase `name` into `model`."""
        _load_named_weights(model, self.state_path / self.completed[name]["weights_file"])

    def write_log(self, history):
        """log.csv: one line per epoch over all phases, rewritten whole from `history`."""
        keys = sorted(history)
        lines = [",".join(["epoch", *keys])]
        for epoch in range(len(history.get("loss", []))):
            row = [history[k][epoch] if epoch < len(history[k]) else "" for k in keys]
            lines.append(",".join([str(epoch), *map(str, row)]))
        write_text(self.staging / "log.csv", "\n".join(lines) + "\n")

    # --- training --------------------------------------------------------------------------
    def callbacks(self, phase, start_epoch):
        """(callbacks, progress) for a phase: TensorBoard (when the tensorboard package is
        installed; else a warning), and the `progress` callback that resumes the phase, keeps
        the best-val_loss checkpoint (checkpoints/<phase>.keras), log.csv and the state."""
        callbacks = []
        if importlib.util.find_spec("tensorboard") is not None:
            callbacks.append(
                keras.callbacks.TensorBoard(str(self.staging / "tensorboard"), profile_batch=0)
            )
        else:
            warnings.warn(
                "The tensorboard package is not installed: no TensorBoard log for this run.",
                stacklevel=3,
            )
        return callbacks, _Progress(self, phase, start_epoch)

    def snapshot_dir(self):
        return self.staging / "snapshots"

    # --- outputs ---------------------------------------------------------------------------
    def export_ensemble(self, class_names, val):
        """Load the snapshots as one model, export it to ensemble/ (`kerasopt.ensembles.export`,
        plus class_names.json for recipes.predict), evaluate it on `val`; return its metrics."""
        ensemble = ensembles.load(self.snapshot_dir())
        folder = self.staging / "ensemble"
        ensembles.export(ensemble, folder)  # before compile: no optimizer to store
        write_json(folder / "class_names.json", list(class_names))
        ensemble.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        val_loss, val_accuracy = ensemble.evaluate(val, verbose=0)
        members = sum(isinstance(layer, keras.Model) for layer in ensemble.layers)
        return {
            "val_accuracy": float(val_accuracy),
            "val_loss": float(val_loss),
            "members": members,
            "folder": "ensemble",
        }

    def publish(self, model, metrics, class_names, matrix, starts, title, worst=()):
        """Write model.keras, saved_model/, metrics.json, class_names.json and the plots
        (training_curves.png, confusion_matrix.png, and top_losses.png from `worst`: (image,
        true, predicted, probability) of the worst test images) into the staging folder, then
        publish it as the run folder and drop the resume state. metrics.json, written last,
        records the seconds this took before it (`publish_seconds`)."""
        start = time.perf_counter()
        with atomic_path(self.staging / "model.keras") as tmp:
            model.save(tmp)
        if keras.backend.backend() == "tensorflow":  # a SavedModel needs TensorFlow
            export_serving(model, self.staging / "saved_model")
        write_json(self.staging / "class_names.json", list(class_names))
        self.write_log(metrics["history"])
        plotting.plot_training_curves(
            metrics["history"], self.staging / "training_curves.png", starts, title=title
        )
        plotting.plot_confusion_matrix(
            matrix, class_names, self.staging / "confusion_matrix.png", title=title
        )
        if worst:
            cells = [
                (image, f"{class_names[true]} as {class_names[pred]} {prob:.2f}")
                for image, true, pred, prob in worst
            ]
            rows = [cells[i : i + 3] for i in range(0, len(cells), 3)]
            plotting.plot_image_grid(
                [[image for image, _ in row] for row in rows],
                self.staging / "top_losses.png",
                titles=[[title for _, title in row] for row in rows],
            )
        metrics["publish_seconds"] = round(time.perf_counter() - start, 2)
        write_json(self.staging / "metrics.json", metrics)
        fault_point("publish")
        replace_path(self.staging, self.final)
        shutil.rmtree(self.state_path, ignore_errors=True)
        return self.final


def _remove_temporaries(folder):
    """Remove the hidden `.NAME.XXXX` temporaries a killed `atomic_path` write left in `folder`."""
    for path in sorted(Path(folder).rglob(".*"), key=lambda p: len(p.parts)):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink(missing_ok=True)


def export_serving(model, path):
    """Write a TensorFlow SavedModel whose `serve` signature maps raw float32 RGB images
    ([0, 255], shape (batch, height, width, 3), any size) to class probabilities.

    Source: `kerasopt.export.serving.write_saved_model` (the graph of Keras'
    `Model.export(format="tf_saved_model")`, traced once); written under a temporary name and
    renamed (`kerasopt._io.atomic_path`).

    Args:
        model: the classifier (`build_classifier`: preprocessing included, any image size).
        path: the SavedModel folder to write.

    Returns:
        `path`, as a `pathlib.Path`.

    Example:
        >>> import os, tempfile, keras, numpy as np, tensorflow as tf
        >>> from kerasopt.transfer import build_classifier, export_serving
        >>> base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)], name="base")
        >>> model = build_classifier(base, n_classes=3)
        >>> path = export_serving(model, os.path.join(tempfile.mkdtemp(), "saved_model"))
        >>> images = np.random.default_rng(0).uniform(0, 255, (2, 20, 30, 3)).astype("float32")
        >>> reloaded = tf.saved_model.load(str(path))
        >>> served = reloaded.serve(images)  # any size, raw pixels
        >>> bool(np.allclose(served, model.predict(images, verbose=0), atol=1e-5))
        True
    """
    with atomic_path(path) as tmp:
        write_saved_model(model, tmp)
    return Path(path)


def _save_named_weights(model, path):
    variables = {v.path: v.numpy() for v in model.weights}
    with open(path, "wb") as handle:
        np.savez(handle, *variables.values(), paths=np.array(list(variables)))


def _load_named_weights(model, path):
    with np.load(path) as stored:
        values = dict(
            zip(
                stored["paths"].tolist(),
                (stored[f"arr_{i}"] for i in range(len(stored["paths"]))),
                strict=True,
            )
        )
    for variable in model.weights:
        variable.assign(values[variable.path])


def _seed_generators(model):
    return {
        f"{layer.path}/{i}": generator
        for layer in model._flatten_layers()
        for i, generator in enumerate(getattr(layer, "_seed_generators", []))
    }


class _Progress(keras.callbacks.Callback):
    """Saves the state of each completed epoch of a phase and restores it on resume (used by
    `kerasopt.transfer.phases.fit_phase`): weights with optimizer state, early-stopping state,
    the best-val_loss checkpoint, the phase timer, dropout seeds, the history, log.csv."""

    def __init__(self, folder, phase, start_epoch):
        super().__init__()
        self.folder, self.phase, self.start_epoch = folder, phase, start_epoch
        current = folder.state["current"]
        self.record = current if current and current["phase"] == phase else None
        record = self.record or {}
        self.epochs_done = record.get("epochs_done", 0)
        self.stopped = record.get("stopped", False)
        self.history = record.get("history", {})
        self.best = record.get("best", None)
        self._stopper = self._timer = None
        self._in_phase = 0
        # The model of checkpoints/<phase>.keras; None: the trained one (with cached
        # activations the top trains, and the checkpoint is the whole classifier).
        self.checkpoint_model = None

    def track(self, model, timer, stopper):
        """Adopt the phase's timer and early stopping; on resume load the epoch's state."""
        self._timer, self._stopper = timer, stopper
        if self.record is None:
            return
        model.optimizer.build(model.trainable_variables)
        model.load_weights(self.folder.state_path / self.record["weights_file"])
        for key, generator in _seed_generators(model).items():
            if key in self.record["seeds"]:
                generator.state.assign(
                    np.array(self.record["seeds"][key], dtype=generator.state.dtype)
                )
        timer.load_state(self.record["timer"])
        self._restore_stopper()

    def _restore_stopper(self):
        if self._stopper is None or self.record is None or self.record["stopper"] is None:
            return
        saved = self.record["stopper"]
        self._stopper.wait, self._stopper.best_epoch = saved["wait"], saved["best_epoch"]
        self._stopper.best = saved["best"]
        if self.record.get("best_file"):
            with np.load(self.folder.state_path / self.record["best_file"]) as stored:
                self._stopper.best_weights = [stored[f"arr_{i}"] for i in range(len(stored.files))]

    def on_train_begin(self, logs=None):
        self._restore_stopper()  # EarlyStopping.on_train_begin has just reset itself

    def on_epoch_begin(self, epoch, logs=None):
        self._in_phase = epoch - self.start_epoch

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            fault_point(f"{self.phase}-epoch-{self._in_phase + 1}")

    def on_epoch_end(self, epoch, logs=None):
        n = self._in_phase + 1
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        state = self.folder.state_path
        weights_file = f"{self.phase}-{n:04d}.weights.h5"
        with atomic_path(state / weights_file) as tmp:
            self.model.save_weights(tmp)
        val_loss = (logs or {}).get("val_loss")
        if val_loss is not None and (self.best is None or val_loss < self.best):
            self.best = float(val_loss)
            with atomic_path(self.folder.staging / "checkpoints" / f"{self.phase}.keras") as tmp:
                (self.checkpoint_model or self.model).save(tmp)
        stopper, best_file = self._stopper, (self.record or {}).get("best_file")
        if stopper is not None and stopper.best_weights is not None and stopper.best_epoch == epoch:
            best_file = f"{self.phase}-best-{n:04d}.npz"
            with atomic_path(state / best_file) as tmp, open(tmp, "wb") as handle:
                np.savez(handle, *stopper.best_weights)
        self.record = {
            "phase": self.phase,
            "epochs_done": n,
            "stopped": bool(self.model.stop_training),
            "history": self.history,
            "best": self.best,
            "weights_file": weights_file,
            "best_file": best_file,
            "stopper": None
            if stopper is None
            else {
                "wait": stopper.wait,
                "best": None if stopper.best is None else float(stopper.best),
                "best_epoch": stopper.best_epoch,
            },
            "timer": self._timer.state(),
            "seeds": {k: g.state.numpy().tolist() for k, g in _seed_generators(self.model).items()},
        }
        self.folder.state["current"] = self.record
        self.folder._save_state()
        self.folder.write_log(self.folder.history(self.history))
