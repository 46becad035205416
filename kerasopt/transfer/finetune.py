"""The two-phase fine-tuning procedure, from data to a run folder.

Source: the course's transfer-learning section and Keras' transfer-learning guide (Chollet):
phase 1 trains a new head on the frozen ImageNet backbone; phase 2 unfreezes the top of the
backbone (BatchNormalization kept frozen) and trains on with a lower learning rate, the backbone
slower than the head (Howard & Ruder, ULMFiT, 2018), warm-up then cosine decay (Goyal et al.,
2017; Loshchilov & Hutter, SGDR, 2017). On a GPU: mixed precision (Micikevicius et al., 2018)
and XLA compilation; several GPUs: `tf.distribute.MirroredStrategy`. TensorFlow backend.

Phase 2 options: weight averaging of the iterates (`average`: Polyak & Juditsky, 1992; EMA;
SWA, Izmailov et al., 2018; `kerasopt.optimizers.Averaged`) or a snapshot ensemble (`snapshots`:
Huang et al., 2017; `kerasopt.callbacks.SnapshotEnsemble`, `kerasopt.ensembles`).

The run folder receives model.keras, saved_model/ (serving signature `serve`: raw float32 RGB
images in [0, 255], any size, -> class probabilities), metrics.json, class_names.json,
log.csv, tensorboard/, checkpoints/, training_curves.png and confusion_matrix.png; with
`snapshots`, also snapshots/ (the members and their manifest) and ensemble/ (model.keras and
saved_model/ of the averaged ensemble, served like the single model).
"""

import dataclasses
import importlib.util
import math
import os
import shutil
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerasopt import ensembles, plotting
from kerasopt._io import atomic_path, write_json
from kerasopt._platform import cpuinfo
from kerasopt._validation import check_choice, check_int, check_positive, check_range
from kerasopt.callbacks.averaging import SwapAveragedWeights
from kerasopt.callbacks.snapshot import SnapshotEnsemble
from kerasopt.optimizers.averaging import Averaged
from kerasopt.transfer.backbones import backbone, get_spec
from kerasopt.transfer.classifier import build_classifier
from kerasopt.transfer.freezing import discriminative_optimizer, freeze, unfreeze_fraction
from kerasopt.transfer.strategy import FineTuneStrategy, choose_strategy

_AUTO = ("auto", True, False)
AVERAGING = ("polyak", "ema", "swa")


@dataclasses.dataclass
class DeviceSetup:
    """What `configure_device` chose: the distribution strategy, precision and compilation."""

    distribution: tf.distribute.Strategy
    mixed_precision: bool
    jit_compile: bool
    description: str


def describe_device():
    """"GPU: <name> xN" when GPUs are visible, else "CPU: <model> (N cores)"."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        return f"GPU: {name} x{len(gpus)}"
    return f"CPU: {cpuinfo('model name')} ({os.cpu_count()} cores)"


def configure_device(mixed_precision="auto", xla="auto", distribute="auto"):
    """Pick precision, XLA and distribution; sets Keras' global dtype policy.

    Each argument is "auto" (on when a GPU is visible; `distribute`: when more than one is),
    True or False. Returns a `DeviceSetup`.
    """
    for name, value in (("mixed_precision", mixed_precision), ("xla", xla), ("distribute", distribute)):
        check_choice(name, value, _AUTO)
    gpus = tf.config.list_physical_devices("GPU")
    use_mp = bool(gpus) if mixed_precision == "auto" else mixed_precision
    use_xla = bool(gpus) if xla == "auto" else xla
    use_mirrored = len(gpus) > 1 if distribute == "auto" else distribute
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mp else "float32")
    distribution = tf.distribute.MirroredStrategy() if use_mirrored else tf.distribute.get_strategy()
    return DeviceSetup(distribution, bool(use_mp), bool(use_xla), describe_device())


class _PhaseTimer(keras.callbacks.Callback):
    """Training-only time and images of a phase (validation passes excluded)."""

    def __init__(self, n_train):
        super().__init__()
        self.n_train, self.seconds, self.images = n_train, 0.0, 0
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_test_begin(self, logs=None):
        if self._start is not None:
            self.seconds += time.perf_counter() - self._start
            self.images += self.n_train
            self._start = None


def _callbacks(run_dir, phase, patience, extra):
    """EarlyStopping (best weights restored; none when `patience` is None), best-val_loss
    checkpoint, CSV log, TensorBoard (when the tensorboard package is installed; else a
    warning), then `extra`."""
    callbacks = [] if patience is None else [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    ]
    callbacks += [
        keras.callbacks.ModelCheckpoint(str(run_dir / "checkpoints" / f"{phase}.keras"), monitor="val_loss", save_best_only=True),
        keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=True),
    ]
    if importlib.util.find_spec("tensorboard") is not None:
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), profile_batch=0))
    else:
        warnings.warn("The tensorboard package is not installed: no TensorBoard log for this run.", stacklevel=3)
    return callbacks + list(extra)


def warmup_cosine(peak, total_steps, warmup_fraction):
    """`keras.optimizers.schedules.CosineDecay` from 0 up to `peak` over the warm-up, then to 0."""
    check_positive("peak", peak)
    check_int("total_steps", total_steps, minimum=1)
    check_range("warmup_fraction", warmup_fraction, 0.0, 1.0, high_inclusive=False)
    warmup = int(warmup_fraction * total_steps)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(total_steps - warmup, 1), warmup_target=peak, warmup_steps=warmup
    )


def _fit_phase(model, data, phase, epochs, initial_epoch, run_dir, patience, device, extra, verbose):
    timer = _PhaseTimer(data.n_train)
    start = time.perf_counter()
    history = model.fit(
        data.train,
        validation_data=data.val,
        epochs=initial_epoch + epochs,
        initial_epoch=initial_epoch,
        callbacks=[timer, *_callbacks(run_dir, phase, patience, extra)],
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    val_loss, val_accuracy = model.evaluate(data.val, verbose=0)
    metrics = {
        "val_accuracy": float(val_accuracy),
        "val_loss": float(val_loss),
        "epochs": len(history.history["loss"]),
        "seconds": round(seconds, 2),
        "images_per_second": round(timer.images / timer.seconds, 2) if timer.seconds else None,
        "device": device.description,
        "mixed_precision": device.mixed_precision,
        "xla": device.jit_compile,
    }
    return history.history, metrics


def train_head(model, base, data, strategy, run_dir, device, patience=3, callbacks=(), verbose="auto"):
    """Phase 1: freeze `base`, train the rest of `model` with Adam at `strategy.head_learning_rate`.

    Returns (Keras history dict, phase metrics dict).
    """
    freeze(base)
    model.compile(
        optimizer=keras.optimizers.Adam(strategy.head_learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=device.jit_compile,
    )
    return _fit_phase(model, data, "head", strategy.epochs_head, 0, run_dir, patience, device, callbacks, verbose)


class _DiscriminativeSnapshots(SnapshotEnsemble):
    """`SnapshotEnsemble` for phase 2: epochs are counted from `initial_epoch` (the phase's
    start), and it drives a discriminative `MultiOptimizer`, which has no single learning rate
    to set: before each batch, each (optimizer, factor) of `scaled` gets factor times the cyclic
    rate (the head 1, the backbone `backbone_lr_factor`)."""

    def __init__(self, directory, n_snapshots, max_lr, scaled, initial_epoch):
        super().__init__(directory, n_snapshots, max_lr, min_lr=0.0)
        self.scaled, self.initial_epoch = list(scaled), initial_epoch

    def on_train_begin(self, logs=None):
        self.params = {**self.params, "epochs": self.params["epochs"] - self.initial_epoch}
        super().on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch - self.initial_epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch - self.initial_epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        rate = self.schedule(self._epoch * self._steps + batch)
        for optimizer, factor in self.scaled:
            optimizer.learning_rate.assign(rate * factor)


def _check_phase2_options(average, snapshots):
    check_choice("average", average, (None, *AVERAGING))
    if snapshots is not None:
        check_int("snapshots", snapshots, minimum=1)
    if average is not None and snapshots is not None:
        raise ValueError(
            "Arguments `average` and `snapshots` cannot be combined (an ensemble of snapshots, or one "
            f"averaged model: choose one). Received: average={average!r}, snapshots={snapshots!r}"
        )


def _averaged(optimizer, method, steps_per_epoch):
    """`Averaged(optimizer, method)` with settings scaled to the epoch: polyak averages every
    step; swa records once per epoch (Izmailov et al.); ema has decay 1 - 1/steps_per_epoch
    (at least 0.9, at most 0.999), a window of about one epoch."""
    if method == "swa":
        return Averaged(optimizer, "swa", every=steps_per_epoch)
    if method == "ema":
        return Averaged(optimizer, "ema", decay=min(max(1.0 - 1.0 / steps_per_epoch, 0.9), 0.999))
    return Averaged(optimizer, "polyak")


def train_finetune(model, base, data, strategy, run_dir, device, initial_epoch, patience=3, callbacks=(),
                   verbose="auto", average=None, snapshots=None):
    """Phase 2: unfreeze the top `strategy.unfreeze_fraction` of `base` (BatchNormalization
    frozen) and train with Adam, the backbone at `backbone_lr_factor` times the head's rate
    (a `MultiOptimizer`), by default on a warm-up/cosine schedule.

    Args:
        average: None, or "polyak", "ema" or "swa": each of the two Adam optimizers is wrapped in
            `kerasopt.optimizers.Averaged` (finalize on), so at the end of the phase the model
            holds the averaged weights (model.keras and the SavedModel then store them);
            validation during the phase runs on the averages (`SwapAveragedWeights`). No
            BatchNormalization statistics need recomputing (`recompute_batchnorm`): the
            backbone's BatchNormalization layers stay frozen and run in inference mode, and the
            head has none, so the ImageNet statistics still fit the averaged weights.
        snapshots: None, or K >= 1: a snapshot ensemble (`kerasopt.callbacks.SnapshotEnsemble`):
            K cosine cycles from `finetune_learning_rate` down to 0 replace the warm-up/cosine
            schedule, the backbone's rate staying `backbone_lr_factor` times the head's at every
            step; the phase's epochs are rounded up to a multiple of K (printed). The K models
            go to run_dir/snapshots/ (the manifest counts epochs from the phase's start); the
            ensemble (`kerasopt.ensembles.load`, mean of the members' probabilities) is
            evaluated on the validation data (metrics["ensemble"]) and exported to run_dir/ensemble/ (`kerasopt.ensembles.export`: model.keras and
            saved_model/, with class_names.json). The model itself ends as the last snapshot.
        With `average` or `snapshots` the phase has no early stopping (it would cut the cycles,
        or put back raw, unaveraged weights); `average` and `snapshots` cannot be combined.

    Returns (history dict, phase metrics dict, names of the unfrozen layers).
    """
    _check_phase2_options(average, snapshots)
    epochs = strategy.epochs_finetune
    if snapshots is not None and epochs % snapshots:
        epochs = math.ceil(epochs / snapshots) * snapshots
        print(f"Phase 2: {strategy.epochs_finetune} epochs rounded up to {epochs}, a multiple of snapshots={snapshots}.")
    unfrozen = unfreeze_fraction(base, strategy.unfreeze_fraction)
    steps_per_epoch = int(data.train.cardinality())
    if steps_per_epoch <= 0:
        steps_per_epoch = math.ceil(data.n_train / data.batch_size)
    peak, factor = strategy.finetune_learning_rate, strategy.backbone_lr_factor
    extra = list(callbacks)
    if snapshots is None:
        steps = epochs * steps_per_epoch
        head = keras.optimizers.Adam(warmup_cosine(peak, steps, strategy.warmup_fraction))
        body = keras.optimizers.Adam(warmup_cosine(peak * factor, steps, strategy.warmup_fraction))
    else:
        head, body = keras.optimizers.Adam(peak), keras.optimizers.Adam(peak * factor)
        extra.append(_DiscriminativeSnapshots(
            Path(run_dir) / "snapshots", snapshots, peak, [(head, 1.0), (body, factor)], initial_epoch
        ))
    if average is not None:
        head, body = _averaged(head, average, steps_per_epoch), _averaged(body, average, steps_per_epoch)
        extra.insert(0, SwapAveragedWeights())
    model.compile(
        optimizer=discriminative_optimizer(model, base, head_optimizer=head, backbone_optimizer=body),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=device.jit_compile,
    )
    if average is not None or snapshots is not None:
        patience = None
    history, metrics = _fit_phase(model, data, "finetune", epochs, initial_epoch, run_dir, patience, device, extra, verbose)
    metrics["unfrozen_layers"] = len(unfrozen)
    metrics["average"] = average
    metrics["snapshots"] = snapshots
    if snapshots is not None:
        metrics["ensemble"] = _ensemble(Path(run_dir), data)
    return history, metrics, unfrozen


def _ensemble(run_dir, data):
    """Load run_dir/snapshots as one model, evaluate it on data.val, export it to run_dir/ensemble."""
    ensemble = ensembles.load(run_dir / "snapshots")
    ensembles.export(ensemble, run_dir / "ensemble")  # before compile: no optimizer to store
    write_json(run_dir / "ensemble" / "class_names.json", list(data.class_names))  # for recipes.predict
    ensemble.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    val_loss, val_accuracy = ensemble.evaluate(data.val, verbose=0)
    members = sum(isinstance(layer, keras.Model) for layer in ensemble.layers)
    return {"val_accuracy": float(val_accuracy), "val_loss": float(val_loss), "members": members, "folder": "ensemble"}


def train_scratch(model, data, strategy, run_dir, device, patience=3, callbacks=(), verbose="auto"):
    """The random-initialization baseline: every layer trained from the start (BatchNormalization
    included) with Adam at `strategy.head_learning_rate` for `epochs_head + epochs_finetune`
    epochs, the budget of the two phases. Returns (history dict, phase metrics dict).
    """
    model.trainable = True
    model.compile(
        optimizer=keras.optimizers.Adam(strategy.head_learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=device.jit_compile,
    )
    epochs = strategy.epochs_head + strategy.epochs_finetune
    return _fit_phase(model, data, "scratch", epochs, 0, run_dir, patience, device, callbacks, verbose)


def confusion_matrix(model, dataset, n_classes):
    """Counts (true class, predicted class) of `model` on a dataset of (images, labels)."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    for images, labels in dataset:
        predicted = np.argmax(model.predict_on_batch(images), axis=-1)
        np.add.at(matrix, (labels.numpy(), predicted), 1)
    return matrix


def export_serving(model, path):
    """Write a TensorFlow SavedModel whose `serve` signature maps raw float32 RGB images
    ([0, 255], shape (batch, height, width, 3), any size) to class probabilities."""
    with atomic_path(path) as tmp:
        model.export(str(tmp), format="tf_saved_model", verbose=False)
    return Path(path)


@dataclasses.dataclass
class FineTuneResult:
    """The trained classifier, its backbone (a part of `model`), the run folder and its metrics."""

    model: keras.Model
    backbone: keras.Model
    run_dir: Path
    metrics: dict


def fine_tune(
    data,
    run_dir,
    backbone_name="mobilenet_v2",
    strategy=None,
    similarity="similar",
    weights="imagenet",
    alpha=None,
    dropout=0.2,
    mixed_precision="auto",
    xla="auto",
    distribute="auto",
    patience=3,
    finetune_callbacks=(),
    verbose="auto",
    average=None,
    snapshots=None,
):
    """Run both phases on `data` (an `ImageData`) and fill `run_dir`; return a `FineTuneResult`.

    With `weights=None` there is nothing to transfer: the same architecture is trained from
    random initialization instead (`train_scratch`, one phase "scratch", same epoch budget),
    the baseline of the transfer-learning comparison.

    Args:
        data: `kerasopt.transfer.image_dataset(...)` output.
        run_dir: the run folder (created; an earlier log.csv, tensorboard/, checkpoints/,
            snapshots/ and ensemble/ there are replaced).
        backbone_name: a key of `kerasopt.transfer.BACKBONES`.
        strategy: a `FineTuneStrategy`; None: `choose_strategy(similarity, data.n_train)`.
        similarity: "similar" or "different" (to ImageNet), used when `strategy` is None.
        weights, alpha: passed to `kerasopt.transfer.backbone`.
        dropout: dropout rate before the head.
        mixed_precision, xla, distribute: "auto", True or False (see `configure_device`).
        patience: EarlyStopping patience (epochs without a lower val_loss).
        finetune_callbacks: extra Keras callbacks for phase 2.
        verbose: Keras `fit` verbosity.
        average: None or "polyak", "ema", "swa": weight averaging in phase 2 (see
            `train_finetune`); metrics["average"] records it.
        snapshots: None or K: a snapshot ensemble of K models in phase 2 (see `train_finetune`),
            written to run_dir/snapshots/ and exported to run_dir/ensemble/.
        Both act on phase 2, so they need ImageNet (not None) weights and a strategy that
        fine-tunes.
    """
    if strategy is None:
        strategy = choose_strategy(similarity, data.n_train)
    if not isinstance(strategy, FineTuneStrategy):
        raise TypeError(f"Argument `strategy` must be a FineTuneStrategy or None. Received: strategy={strategy!r}")
    check_int("patience", patience, minimum=1)
    _check_phase2_options(average, snapshots)
    if (average is not None or snapshots is not None) and (weights is None or not strategy.fine_tunes):
        raise ValueError(
            "Arguments `average` and `snapshots` act on phase 2 (fine-tuning), which this run does not have "
            f"(weights=None, or a strategy with no unfrozen layers or no fine-tuning epochs). Received: "
            f"average={average!r}, snapshots={snapshots!r}, weights={weights!r}, strategy={strategy.name!r}"
        )
    spec = get_spec(backbone_name)
    run_dir = Path(run_dir)
    for stale in ("log.csv", "tensorboard", "checkpoints", "snapshots", "ensemble"):
        target = run_dir / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)

    previous_policy = keras.mixed_precision.global_policy()
    device = configure_device(mixed_precision, xla, distribute)
    phases = {}
    try:
        with device.distribution.scope():
            base = backbone(backbone_name, weights=weights, input_shape=(*data.image_size, 3), alpha=alpha)
            model = build_classifier(
                base, len(data.class_names), dropout=dropout, preprocessing=spec.preprocessing,
                inference_backbone=weights is not None,
            )
            if weights is None:
                history, phases["scratch"] = train_scratch(model, data, strategy, run_dir, device, patience, verbose=verbose)
                starts = {"scratch": 0}
            else:
                history, phases["head"] = train_head(model, base, data, strategy, run_dir, device, patience, verbose=verbose)
                starts = {"head": 0}
                if strategy.fine_tunes:
                    done = phases["head"]["epochs"]
                    starts["fine-tune"] = done
                    more, phases["finetune"], _ = train_finetune(
                        model, base, data, strategy, run_dir, device, done, patience, finetune_callbacks, verbose,
                        average=average, snapshots=snapshots,
                    )
                    history = {k: history[k] + more.get(k, []) for k in history}
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)

    model.save(run_dir / "model.keras")
    export_serving(model, run_dir / "saved_model")
    matrix = confusion_matrix(model, data.val, len(data.class_names))
    final = list(phases.values())[-1]
    metrics = {
        "backbone": backbone_name,
        "source": data.source,
        "image_size": list(data.image_size),
        "n_train": data.n_train,
        "n_val": data.n_val,
        "strategy": dataclasses.asdict(strategy),
        "average": average,
        "snapshots": snapshots,
        "phases": phases,
        "val_accuracy": final["val_accuracy"],
        "val_loss": final["val_loss"],
        "confusion_matrix": matrix,
        "history": history,
    }
    write_json(run_dir / "metrics.json", metrics)
    write_json(run_dir / "class_names.json", list(data.class_names))
    title = f"{backbone_name} on {Path(data.source).name or data.source}"
    plotting.plot_training_curves(history, run_dir / "training_curves.png", starts, title=title)
    plotting.plot_confusion_matrix(matrix, data.class_names, run_dir / "confusion_matrix.png", title=title)
    return FineTuneResult(model, base, run_dir, metrics)
