"""The two-phase fine-tuning procedure, from data to a run folder.

Source: the course's transfer-learning section and Keras' transfer-learning guide (Chollet):
phase 1 trains a new head on the frozen ImageNet backbone; phase 2 unfreezes the top of the
backbone (BatchNormalization kept frozen) and trains on with a lower learning rate, the backbone
slower than the head (Howard & Ruder, ULMFiT, 2018), warm-up then cosine decay (Goyal et al.,
2017; Loshchilov & Hutter, SGDR, 2017). On a GPU: mixed precision (Micikevicius et al., 2018)
and XLA compilation; several GPUs: `tf.distribute.MirroredStrategy`. TensorFlow backend.

The run folder receives model.keras, saved_model/ (serving signature `serve`: raw float32 RGB
images in [0, 255], any size, -> class probabilities), metrics.json, class_names.json,
log.csv, tensorboard/, checkpoints/, training_curves.png and confusion_matrix.png.
"""

import dataclasses
import importlib.util
import math
import os
import platform
import shutil
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerasopt import plotting
from kerasopt._io import atomic_path, write_json
from kerasopt._validation import check_choice, check_int
from kerasopt.transfer.backbones import backbone, get_spec
from kerasopt.transfer.classifier import build_classifier
from kerasopt.transfer.freezing import discriminative_optimizer, freeze, unfreeze_fraction
from kerasopt.transfer.strategy import FineTuneStrategy, choose_strategy

_AUTO = ("auto", True, False)


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
    model = platform.processor() or "unknown"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as handle:
            model = next((ln.split(":", 1)[1].strip() for ln in handle if ln.startswith("model name")), model)
    return f"CPU: {model} ({os.cpu_count()} cores)"


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
    """EarlyStopping (best weights restored), best-val_loss checkpoint, CSV log, TensorBoard
    (when the tensorboard package is installed; else a warning), then `extra`."""
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True),
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


def train_finetune(model, base, data, strategy, run_dir, device, initial_epoch, patience=3, callbacks=(), verbose="auto"):
    """Phase 2: unfreeze the top `strategy.unfreeze_fraction` of `base` (BatchNormalization
    frozen) and train with warm-up/cosine Adam, the backbone at `backbone_lr_factor` times the
    head's rate. Returns (history dict, phase metrics dict, names of the unfrozen layers).
    """
    unfrozen = unfreeze_fraction(base, strategy.unfreeze_fraction)
    steps = strategy.epochs_finetune * int(data.train.cardinality())
    if steps <= 0:
        steps = strategy.epochs_finetune * math.ceil(data.n_train / data.batch_size)
    peak = strategy.finetune_learning_rate
    optimizer = discriminative_optimizer(
        model,
        base,
        head_optimizer=keras.optimizers.Adam(warmup_cosine(peak, steps, strategy.warmup_fraction)),
        backbone_optimizer=keras.optimizers.Adam(
            warmup_cosine(peak * strategy.backbone_lr_factor, steps, strategy.warmup_fraction)
        ),
    )
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=device.jit_compile,
    )
    history, metrics = _fit_phase(
        model, data, "finetune", strategy.epochs_finetune, initial_epoch, run_dir, patience, device, callbacks, verbose
    )
    metrics["unfrozen_layers"] = len(unfrozen)
    return history, metrics, unfrozen


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
):
    """Run both phases on `data` (an `ImageData`) and fill `run_dir`; return a `FineTuneResult`.

    With `weights=None` there is nothing to transfer: the same architecture is trained from
    random initialization instead (`train_scratch`, one phase "scratch", same epoch budget),
    the baseline of the transfer-learning comparison.

    Args:
        data: `kerasopt.transfer.image_dataset(...)` output.
        run_dir: the run folder (created; an earlier log.csv, tensorboard/ and checkpoints/ there
            are replaced).
        backbone_name: a key of `kerasopt.transfer.BACKBONES`.
        strategy: a `FineTuneStrategy`; None: `choose_strategy(similarity, data.n_train)`.
        similarity: "similar" or "different" (to ImageNet), used when `strategy` is None.
        weights, alpha: passed to `kerasopt.transfer.backbone`.
        dropout: dropout rate before the head.
        mixed_precision, xla, distribute: "auto", True or False (see `configure_device`).
        patience: EarlyStopping patience (epochs without a lower val_loss).
        finetune_callbacks: extra Keras callbacks for phase 2.
        verbose: Keras `fit` verbosity.
    """
    if strategy is None:
        strategy = choose_strategy(similarity, data.n_train)
    if not isinstance(strategy, FineTuneStrategy):
        raise TypeError(f"Argument `strategy` must be a FineTuneStrategy or None. Received: strategy={strategy!r}")
    check_int("patience", patience, minimum=1)
    spec = get_spec(backbone_name)
    run_dir = Path(run_dir)
    for stale in ("log.csv", "tensorboard", "checkpoints"):
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
                        model, base, data, strategy, run_dir, device, done, patience, finetune_callbacks, verbose
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
