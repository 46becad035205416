"""Snapshot ensembles: train once, save a model at the end of every cosine cycle (Huang et al. 2017)."""

import hashlib
import json
import os
from pathlib import Path

import keras

from kerasopt import distributed
from kerasopt._io import atomic_path, write_json
from kerasopt._validation import check_int, check_positive, check_range

MANIFEST = "manifest.json"


def file_sha256(path):
    """Hex SHA-256 of a file (the manifest records it; loading checks it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@keras.saving.register_keras_serializable(package="kerasopt")
class SnapshotEnsemble(keras.callbacks.Callback):
    """Cosine cyclic learning rate with `n_snapshots` cycles; the model is saved after each.

    Huang et al. 2017, "Snapshot Ensembles: Train 1, get M for free", eq. 2:
    lr(t) = max_lr / 2 (cos(pi mod(t, ceil(T/M)) / ceil(T/M)) + 1) for step t (0-based) of
    T = epochs x steps_per_epoch, here with a floor `min_lr` (Keras' `CosineDecayRestarts`
    with `alpha = min_lr / max_lr`, t_mul = m_mul = 1). The `epochs` given to `fit` must be
    a multiple of `n_snapshots`, so that each cycle ends at an epoch end, where validation
    metrics exist: the model is then written to `directory/snapshot_XXX.keras` atomically
    (temporary name, then rename), and `directory/manifest.json` (also atomic) lists each
    snapshot's cycle, step, epoch, file, byte size, SHA-256 and the epoch's metrics
    (validation ones included).

    Resuming: with `keras.callbacks.BackupAndRestore` (save_freq="epoch") an interrupted
    run restarts at the backed-up epoch; snapshots of later epochs in the manifest are then
    dropped and taken again, so the finished run has the same snapshots, at the same steps,
    as an uninterrupted one. The step is `epoch x steps_per_epoch + batch`, so the schedule
    resumes where it stopped. The optimizer's learning rate must be a number (the callback
    assigns it before each batch). Load the ensemble with `kerasopt.ensembles.load`.

    Multi-worker training (`tf.distribute.MultiWorkerMirroredStrategy`): only the chief
    (`kerasopt.distributed.is_chief`) writes snapshots and the manifest; the other workers
    train the same weights and write nothing.

    In a hyperparameter search (keras-tuner deep-copies the callbacks for every trial), the
    tuners of `kerasopt.search` call `configure_for_trial`, so that every trial writes its
    own folder: `directory` may hold the placeholders `{trial_id}` and `{execution}`;
    without them the trial's folder is `directory/<trial_id>/execution<k>` (keras-tuner's
    layout for TensorBoard logs). A `directory` still holding a placeholder at the start of
    training (a tuner without that hook) is refused rather than shared by every trial.

    Example:
        >>> import tempfile
        >>> cb = SnapshotEnsemble(tempfile.mkdtemp() + "/{trial_id}", n_snapshots=2, max_lr=0.1)
        >>> cb.configure_for_trial("07")
        >>> cb.directory.endswith("/07")
        True
        >>> round(float(cb.schedule_for(epochs=4, steps_per_epoch=10)(20)), 6)  # start of cycle 2
        0.1

    Args:
        directory: folder for the snapshots and the manifest (placeholders: see above).
        n_snapshots: number of cycles (= snapshots), integer >= 1.
        max_lr: rate at the start of every cycle, > 0.
        min_lr: rate at the end of every cycle, in [0, max_lr].

    Example:
        >>> import json, tempfile, keras, numpy as np
        >>> from kerasopt.callbacks import SnapshotEnsemble
        >>> x, y = np.ones((8, 2), "float32"), np.zeros(8, "int64")
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
        >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        >>> folder = tempfile.mkdtemp()
        >>> _ = model.fit(x, y, epochs=4, verbose=0,
        ...               callbacks=[SnapshotEnsemble(folder, n_snapshots=2, max_lr=0.1)])
        >>> manifest = json.load(open(f"{folder}/manifest.json"))
        >>> [s["epoch"] for s in manifest["snapshots"]]
        [2, 4]

    References:
        Huang et al., "Snapshot Ensembles: Train 1, get M for free", ICLR 2017.
    """

    def __init__(self, directory, n_snapshots, max_lr, min_lr=0.0):
        super().__init__()
        self.directory = str(directory)
        self.n_snapshots = check_int("n_snapshots", n_snapshots, minimum=1)
        self.max_lr = check_positive("max_lr", max_lr)
        self.min_lr = check_range("min_lr", min_lr, low=0, high=max_lr)
        self.schedule = None
        self.snapshots = []

    def configure_for_trial(self, trial_id, execution=0):
        """Point this (per-trial) copy at the trial's own folder (see the class docstring)."""
        if "{trial_id}" in self.directory or "{execution}" in self.directory:
            self.directory = self.directory.format(trial_id=trial_id, execution=execution)
        else:
            self.directory = os.path.join(self.directory, str(trial_id), f"execution{execution}")

    @property
    def manifest_path(self):
        return Path(self.directory) / MANIFEST

    def on_train_begin(self, logs=None):
        if "{trial_id}" in self.directory or "{execution}" in self.directory:
            raise ValueError(
                "Argument `directory` holds a per-trial placeholder that no tuner filled in: use a "
                "tuner of kerasopt.search (or call configure_for_trial). "
                f"Received: directory={self.directory!r}"
            )
        epochs, steps = self.params.get("epochs"), self.params.get("steps")
        if not steps:
            raise ValueError(
                "SnapshotEnsemble needs a known number of steps per epoch (pass `steps_per_epoch` "
                f"or sized data to fit). Received: steps={steps!r}"
            )
        if epochs % self.n_snapshots:
            raise ValueError(
                "Argument `n_snapshots` must divide the number of epochs so each cycle ends at an "
                f"epoch end. Received: n_snapshots={self.n_snapshots}, epochs={epochs}"
            )
        if isinstance(
            self.model.optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule
        ):
            raise ValueError(
                "SnapshotEnsemble sets the learning rate itself: the optimizer's `learning_rate` "
                f"must be a number. Received: learning_rate={self.model.optimizer._learning_rate!r}"
            )
        self._steps = steps
        self._cycle_epochs = epochs // self.n_snapshots
        self.schedule = self.schedule_for(epochs, steps)
        self._first_epoch = None

    def schedule_for(self, epochs, steps_per_epoch):
        """The per-step learning-rate schedule of a run of `epochs` x `steps_per_epoch` steps."""
        epochs = check_int("epochs", epochs, minimum=self.n_snapshots)
        steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, minimum=1)
        return keras.optimizers.schedules.CosineDecayRestarts(
            self.max_lr,
            first_decay_steps=(epochs // self.n_snapshots) * steps_per_epoch,
            t_mul=1.0,
            m_mul=1.0,
            alpha=self.min_lr / self.max_lr,
        )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self._first_epoch is None:  # first epoch of this fit: fresh run, or resumed at `epoch`
            self._first_epoch = epoch
            self.snapshots = []
            if epoch > 0 and self.manifest_path.exists():
                kept = json.loads(self.manifest_path.read_text())["snapshots"]
                self.snapshots = [s for s in kept if s["epoch"] <= epoch]

    def on_train_batch_begin(self, batch, logs=None):
        step = self._epoch * self._steps + batch
        self.model.optimizer.learning_rate.assign(self.schedule(step))

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self._cycle_epochs:
            return
        cycle = (epoch + 1) // self._cycle_epochs
        name = f"snapshot_{cycle:03d}.keras"
        path = Path(self.directory) / name
        if not distributed.is_chief():
            return
        with atomic_path(path) as tmp:
            self.model.save(tmp)
        entry = {
            "cycle": cycle,
            "epoch": epoch + 1,
            "step": (epoch + 1) * self._steps,
            "file": name,
            "bytes": path.stat().st_size,
            "sha256": file_sha256(path),
            "metrics": {k: float(v) for k, v in (logs or {}).items() if _is_number(v)},
        }
        self.snapshots = [s for s in self.snapshots if s["cycle"] != cycle] + [entry]
        self.snapshots.sort(key=lambda s: s["cycle"])
        write_json(
            self.manifest_path,
            {
                "format": 1,
                "n_snapshots": self.n_snapshots,
                "max_lr": self.max_lr,
                "min_lr": self.min_lr,
                "cycle_steps": self._cycle_epochs * self._steps,
                "snapshots": self.snapshots,
            },
        )

    def get_config(self):
        return {
            "directory": self.directory,
            "n_snapshots": self.n_snapshots,
            "max_lr": self.max_lr,
            "min_lr": self.min_lr,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
