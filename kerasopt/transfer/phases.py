"""The phases of fine-tuning and their decisions, without file I/O.

Source: the course's transfer-learning section and Keras' transfer-learning guide (Chollet):
phase 1 trains a new head on the frozen ImageNet backbone; phase 2 unfreezes the top of the
backbone (BatchNormalization kept frozen) and trains on with a lower learning rate, the backbone
slower than the head (Howard & Ruder, ULMFiT, 2018), warm-up then cosine decay (Goyal et al.,
2017; Loshchilov & Hutter, SGDR, 2017). Phase 2 options: weight averaging of the iterates
(`average`: Polyak & Juditsky, 1992; EMA; SWA, Izmailov et al., 2018) or a snapshot ensemble
(`snapshots`: Huang et al., 2017).

Everything that writes files (checkpoints, logs, the resume state, exports) comes in from
`kerasopt.transfer.run_folder` as callbacks and a `progress` object; the functions here decide
what to train, how, and for how long.
"""

import math
import time

import keras
import numpy as np

from kerasopt._validation import check_choice, check_int, check_positive, check_range
from kerasopt.callbacks.averaging import SwapAveragedWeights
from kerasopt.callbacks.lr_finder import LRFinder
from kerasopt.callbacks.snapshot import SnapshotEnsemble
from kerasopt.optimizers.averaging import Averaged
from kerasopt.schedules import OneCycle, Warmup
from kerasopt.transfer.budget import TimeBudget
from kerasopt.transfer.features import head_model
from kerasopt.transfer.freezing import discriminative_optimizer, freeze, unfreeze_fraction

AVERAGING = ("polyak", "ema", "swa")


class PhaseTimer(keras.callbacks.Callback):
    """Training-only time and images of a phase (validation passes excluded), and the wall time
    of its epochs (validation included). `state()` / `load_state()` carry them over a resume."""

    def __init__(self, n_train):
        super().__init__()
        self.n_train, self.seconds, self.images, self.wall = n_train, 0.0, 0, 0.0
        self._start = self._epoch_start = None

    def state(self):
        return {"seconds": self.seconds, "images": self.images, "wall": self.wall}

    def load_state(self, state):
        self.seconds, self.images, self.wall = state["seconds"], state["images"], state["wall"]

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._epoch_start = time.perf_counter()

    def on_test_begin(self, logs=None):
        if self._start is not None:
            self.seconds += time.perf_counter() - self._start
            self.images += self.n_train
            self._start = None

    def on_epoch_end(self, epoch, logs=None):
        if self._epoch_start is not None:
            self.wall += time.perf_counter() - self._epoch_start
            self._epoch_start = None


def warmup_cosine(peak, total_steps, warmup_fraction):
    """`kerasopt.schedules.Warmup` from 0 up to `peak`, then Keras' `CosineDecay` down to 0.

    With w = int(warmup_fraction * total_steps) warm-up steps, the rate at step t is
    peak * t / w for t < w (linear warm-up, Goyal et al., 2017), then
    peak * (1 + cos(pi * (t - w) / (total_steps - w))) / 2 (cosine decay, Loshchilov & Hutter,
    2017), reaching 0 at `total_steps`.

    Args:
        peak: the rate at the end of the warm-up (> 0).
        total_steps: the steps of the whole schedule (>= 1).
        warmup_fraction: the share of `total_steps` spent warming up, in [0, 1).

    Returns:
        A `kerasopt.schedules.Warmup` around a `keras.optimizers.schedules.CosineDecay`.

    Example:
        >>> from kerasopt.transfer import warmup_cosine
        >>> schedule = warmup_cosine(1.0, total_steps=10, warmup_fraction=0.2)  # w = 2 steps
        >>> [round(float(schedule(t)), 6) for t in (0, 1, 2, 6, 10)]  # 0, peak/2, peak, half-way, 0
        [0.0, 0.5, 1.0, 0.5, 0.0]

    References:
        Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017;
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017.
    """
    check_positive("peak", peak)
    check_int("total_steps", total_steps, minimum=1)
    check_range("warmup_fraction", warmup_fraction, 0.0, 1.0, high_inclusive=False)
    warmup = int(warmup_fraction * total_steps)
    cosine = keras.optimizers.schedules.CosineDecay(peak, decay_steps=max(total_steps - warmup, 1))
    return Warmup(cosine, warmup_steps=warmup)


@keras.saving.register_keras_serializable(package="kerasopt")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels with label smoothing: the target of an image of class y
    is (1 - label_smoothing) on y plus label_smoothing / K on every class.

    Source: Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016, sec. 7 (label
    smoothing); Keras' `SparseCategoricalCrossentropy` has no `label_smoothing`, so the labels
    are one-hot encoded here and passed to `keras.losses.categorical_crossentropy`.

    Args:
        label_smoothing: in [0, 1); 0 is the plain sparse cross-entropy.

    Example:
        >>> import numpy as np
        >>> from kerasopt.transfer.phases import SparseSmoothedCrossentropy
        >>> probs = np.array([[0.8, 0.2]], "float32")
        >>> loss = SparseSmoothedCrossentropy(0.1)(np.array([0]), probs)  # target (0.95, 0.05)
        >>> round(float(loss), 4) == round(float(-(0.95 * np.log(0.8) + 0.05 * np.log(0.2))), 4)
        True

    References:
        Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016.
    """

    def __init__(self, label_smoothing=0.0, name="sparse_smoothed_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = check_range(
            "label_smoothing", label_smoothing, 0, 1, high_inclusive=False
        )

    def call(self, y_true, y_pred):
        n_classes = keras.ops.shape(y_pred)[-1]
        labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        target = keras.ops.one_hot(labels, n_classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            target, y_pred, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def classifier_loss(label_smoothing=0.0):
    """The training loss: Keras' sparse cross-entropy, or `SparseSmoothedCrossentropy`."""
    if label_smoothing:
        return SparseSmoothedCrossentropy(label_smoothing)
    return "sparse_categorical_crossentropy"


def _batches_per_epoch(dataset):
    """Batches in one pass: `len` of a `keras.utils.PyDataset` (`image_sequences`), the
    cardinality of a `tf.data.Dataset` (`image_dataset`); -1 when unknown."""
    if isinstance(dataset, keras.utils.PyDataset):
        return len(dataset)
    return int(dataset.cardinality()) if hasattr(dataset, "cardinality") else -1


def lr_range_test(model, x, y=None, steps=60, min_lr=1e-6, max_lr=1.0, batch_size=None):
    """`kerasopt.callbacks.LRFinder` on the compiled `model` (an optimizer with a numeric rate):
    sweep `steps` steps, put the model back; return (suggested rate, seconds per step after
    the first, the finder). `finder.first_step_seconds` is the first step's time (it traces
    and compiles the training step).

    Source: Smith, "Cyclical Learning Rates", 2017, sec. 3.3 (the LR range test).

    Args:
        model: a compiled Keras model.
        x: a dataset of (inputs, labels) batches, or an input array (with `y`).
        y: labels when `x` is an array.
        steps: steps of the sweep (>= 2).
        min_lr: first rate.
        max_lr: last rate.
        batch_size: batch size when `x` is an array.

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.transfer.phases import lr_range_test
        >>> x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
        >>> y = (x[:, 0] > 0).astype("int32")
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="sparse_categorical_crossentropy")
        >>> before = model.get_weights()
        >>> rate, seconds, finder = lr_range_test(model, x, y, steps=20, min_lr=1e-4, max_lr=1.0, batch_size=8)
        >>> 1e-4 <= rate <= 1.0 and seconds > 0 and len(finder.history["lr"]) <= 20
        True
        >>> all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # put back
        True

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017.
    """
    finder = LRFinder(min_lr=min_lr, max_lr=max_lr, steps=steps)
    timer = _StepTimer()
    if y is None:
        per_epoch = _batches_per_epoch(x)
        epochs = math.ceil(steps / per_epoch) if per_epoch > 0 else 1
        model.fit(x, epochs=epochs, verbose=0, callbacks=[finder, timer])
    else:
        per_epoch = math.ceil(len(x) / batch_size)
        model.fit(
            x,
            y,
            batch_size=batch_size,
            epochs=math.ceil(steps / per_epoch),
            verbose=0,
            callbacks=[finder, timer],
        )
    finder.first_step_seconds = timer.times[0] if timer.times else 0.0
    return finder.suggestion, timer.seconds_per_step(), finder


class _StepTimer(keras.callbacks.Callback):
    """Wall time of each training step (the first, which traces and compiles, left out)."""

    def __init__(self):
        super().__init__()
        self.times, self._begin = [], None

    def on_train_batch_begin(self, batch, logs=None):
        self._begin = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._begin)

    def seconds_per_step(self):
        times = self.times[1:] or self.times
        return float(np.median(times)) if times else 0.0


def train_head_on_features(
    model,
    train,
    val,
    learning_rate,
    epochs=100,
    patience=10,
    batch_size=32,
    class_weight=None,
    label_smoothing=0.0,
    verbose=0,
    callbacks=(),
    progress=None,
):
    """Phase 1 on cached features: train the head of `model` (its "head_dropout" rate and a
    new "head" `Dense`) on (features, labels) arrays, then copy the weights into `model`.

    Source: the course's linear classifier on a frozen ImageNet network; Keras'
    transfer-learning guide (feature extraction: the base model run once, the head trained on
    its outputs). Adam on a one-cycle schedule peaking at `learning_rate`
    (`kerasopt.schedules.OneCycle`; Smith & Topin, 2017; fastai's `fit_one_cycle` after
    `lr_find`); early stopping on the validation loss with the best weights restored.

    Args:
        model: the classifier (`build_classifier`).
        train: (features, labels) of the training images (`cache_features`).
        val: (features, labels) of the validation images.
        learning_rate: the one-cycle schedule's peak rate (> 0), e.g. from `lr_range_test`.
        epochs: the most epochs (>= 1).
        patience: EarlyStopping patience on val_loss (>= 1).
        batch_size: batch size (>= 1).
        class_weight: None or {class: weight} (`kerasopt.transfer.auto.class_weights`).
        label_smoothing: in [0, 1) (`SparseSmoothedCrossentropy`).
        verbose: Keras `fit` verbosity.
        callbacks: extra Keras callbacks (they see the head model).
        progress: the resume state of `kerasopt.transfer.run_folder`, or None (see
            `fit_phase`). The training features are shuffled once (seeded), not per epoch,
            so a resumed phase sees the batches an uninterrupted one would.

    Returns:
        (history dict, metrics dict: val_accuracy, val_loss, train_accuracy, epochs, seconds,
        images_per_second (training images per second over the epochs run),
        learning_rate).

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.transfer import build_classifier
        >>> from kerasopt.transfer.phases import train_head_on_features
        >>> base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)], name="base")
        >>> model = build_classifier(base, n_classes=2)
        >>> rng = np.random.default_rng(0)
        >>> y = np.arange(40) % 2
        >>> x = (rng.normal(size=(40, 4)) + 3 * y[:, None]).astype("float32")  # separable
        >>> history, metrics = train_head_on_features(model, (x, y), (x, y), 0.05, epochs=30)
        >>> metrics["val_accuracy"] >= 0.9
        True
        >>> head = keras.Model(model.get_layer("head").input, model.get_layer("head").output)
        >>> bool(np.allclose(np.asarray(head(x)).argmax(1), y) or metrics["val_accuracy"] < 1)
        True
    """
    check_positive("learning_rate", learning_rate)
    check_int("epochs", epochs, minimum=1)
    check_int("patience", patience, minimum=1)
    (x_train, y_train), (x_val, y_val) = train, val
    dropout = model.get_layer("head_dropout").rate
    n_classes = model.get_layer("head").units
    head = head_model(x_train.shape[1], n_classes, dropout)
    steps = epochs * math.ceil(len(x_train) / batch_size)
    head.compile(
        optimizer=keras.optimizers.Adam(OneCycle(learning_rate, total_steps=steps)),
        loss=classifier_loss(label_smoothing),
        metrics=["accuracy"],
    )
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True
    )
    order = np.random.default_rng(0).permutation(len(x_train))
    timer = PhaseTimer(len(x_train))
    all_callbacks = [timer, stopper, *callbacks]
    done, stopped = 0, False
    if progress is not None:
        progress.track(head, timer, stopper)
        all_callbacks.append(progress)
        done, stopped = progress.epochs_done, progress.stopped
    history = {}
    if done < epochs and not stopped:
        history = head.fit(
            x_train[order],
            y_train[order],
            batch_size=batch_size,
            epochs=epochs,
            initial_epoch=done,
            shuffle=False,
            validation_data=(x_val, y_val),
            class_weight=class_weight,
            callbacks=all_callbacks,
            verbose=verbose,
        ).history
    elif stopper.best_weights is not None:
        head.set_weights(stopper.best_weights)
    if progress is not None:
        history = progress.history
    model.get_layer("head").set_weights(head.get_layer("head").get_weights())
    val_loss, val_accuracy = head.evaluate(x_val, y_val, batch_size=256, verbose=0)
    _, train_accuracy = head.evaluate(x_train, y_train, batch_size=256, verbose=0)
    n_epochs = len(history["loss"])
    return history, {
        "val_accuracy": float(val_accuracy),
        "val_loss": float(val_loss),
        "train_accuracy": float(train_accuracy),
        "epochs": n_epochs,
        "seconds": round(timer.wall, 2),
        "images_per_second": round(timer.images / timer.seconds, 2) if timer.seconds else None,
        "learning_rate": float(learning_rate),
    }


def fit_phase(
    model,
    data,
    epochs,
    initial_epoch,
    patience,
    device,
    callbacks=(),
    verbose="auto",
    progress=None,
    class_weight=None,
):
    """Train the compiled `model` for `epochs` epochs from `initial_epoch` (the epochs of earlier
    phases), then evaluate it on `data.val`; `class_weight` weighs the training loss per class.

    EarlyStopping on val_loss restores the best weights (none when `patience` is None).
    `progress` (optional, from `kerasopt.transfer.run_folder`) resumes the phase: it loads the
    weights, optimizer and callback state of the last completed epoch, `fit` goes on from
    there, and its history starts with the earlier epochs. Returns (history dict, metrics).
    """
    timer = PhaseTimer(data.n_train)
    stopper = (
        None
        if patience is None
        else keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience, restore_best_weights=True
        )
    )
    all_callbacks = [timer, *([stopper] if stopper else []), *callbacks]
    done, stopped = 0, False
    if progress is not None:
        progress.track(model, timer, stopper)
        all_callbacks.append(progress)
        done, stopped = progress.epochs_done, progress.stopped
    if done < epochs and not stopped:
        history = model.fit(
            data.train,
            validation_data=data.val,
            epochs=initial_epoch + epochs,
            initial_epoch=initial_epoch + done,
            callbacks=all_callbacks,
            verbose=verbose,
            class_weight=class_weight,
        ).history
    elif stopper is not None and stopper.best_weights is not None:
        model.set_weights(stopper.best_weights)  # what EarlyStopping does at the end of a fit
    if progress is not None:
        history = progress.history
    val_loss, val_accuracy = model.evaluate(data.val, verbose=0)
    metrics = {
        "val_accuracy": float(val_accuracy),
        "val_loss": float(val_loss),
        "epochs": len(history["loss"]),
        "seconds": round(timer.wall, 2),
        "images_per_second": round(timer.images / timer.seconds, 2) if timer.seconds else None,
        "device": device.description,
        "mixed_precision": device.mixed_precision,
        "xla": device.jit_compile,
    }
    return history, metrics


def compile_head(model, base, strategy, device):
    """Phase 1's setup: `base` frozen, Adam at `strategy.head_learning_rate` for the rest."""
    freeze(base)
    model.compile(
        optimizer=keras.optimizers.Adam(strategy.head_learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=device.jit_compile,
    )


def train_head(
    model, base, data, strategy, device, patience=3, callbacks=(), verbose="auto", progress=None
):
    """Phase 1: freeze `base`, train the rest of `model` with Adam at `strategy.head_learning_rate`
    for `strategy.epochs_head` epochs (`fit_phase`: early stopping, `callbacks`, `progress`).

    Source: the course's transfer-learning section and Keras' transfer-learning guide: a new
    head trained on the frozen ImageNet backbone.

    Args:
        model: the classifier (`build_classifier`), `base` inside it.
        base: the backbone, frozen here.
        data: an `ImageData`.
        strategy: a `FineTuneStrategy`.
        device: a `DeviceSetup` (`configure_device`).
        patience: EarlyStopping patience on val_loss (best weights restored); None: no early
            stopping.
        callbacks: extra Keras callbacks.
        verbose: Keras `fit` verbosity.
        progress: the resume state of `kerasopt.transfer.run_folder`, or None.

    Returns:
        (Keras history dict, phase metrics dict): val_accuracy, val_loss, epochs, seconds,
        images_per_second, device, mixed_precision, xla.

    Example:
        >>> import keras, numpy as np, tensorflow as tf
        >>> from kerasopt.transfer import DeviceSetup, FineTuneStrategy, ImageData, build_classifier
        >>> base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="conv1"),
        ...                          keras.layers.BatchNormalization(name="bn"),
        ...                          keras.layers.Conv2D(4, 3, name="conv2")], name="base")
        >>> model = build_classifier(base, n_classes=2)
        >>> x = np.random.default_rng(0).uniform(0, 255, (8, 8, 8, 3)).astype("float32")
        >>> batches = tf.data.Dataset.from_tensor_slices((x, np.array([0, 1] * 4, "int32"))).batch(4)
        >>> data = ImageData(batches, batches, ["a", "b"], 8, 8, (8, 8), 4, "memory")
        >>> device = DeviceSetup(tf.distribute.get_strategy(), False, False, "CPU")
        >>> before = base.get_weights()
        >>> strategy = FineTuneStrategy("tiny", unfreeze_fraction=0.0, epochs_head=2, epochs_finetune=0)
        >>> from kerasopt.transfer import train_head
        >>> history, metrics = train_head(model, base, data, strategy, device, verbose=0)
        >>> len(history["loss"]), metrics["epochs"], metrics["device"]
        (2, 2, 'CPU')
        >>> all(np.array_equal(a, b) for a, b in zip(before, base.get_weights()))  # frozen backbone
        True
    """
    compile_head(model, base, strategy, device)
    return fit_phase(
        model, data, strategy.epochs_head, 0, patience, device, callbacks, verbose, progress
    )


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


def check_phase2_options(average, snapshots):
    """`average` is None or one of `AVERAGING`, `snapshots` None or >= 1, not both."""
    check_choice("average", average, (None, *AVERAGING))
    if snapshots is not None:
        check_int("snapshots", snapshots, minimum=1)
    if average is not None and snapshots is not None:
        raise ValueError(
            "Arguments `average` and `snapshots` cannot be combined (an ensemble of snapshots, or one "
            f"averaged model: choose one). Received: average={average!r}, snapshots={snapshots!r}"
        )


def finetune_epochs(strategy, snapshots):
    """Phase 2's epochs: `strategy.epochs_finetune`, rounded up to a multiple of `snapshots`."""
    epochs = strategy.epochs_finetune
    if snapshots is not None and epochs % snapshots:
        epochs = math.ceil(epochs / snapshots) * snapshots
    return epochs


def _averaged(optimizer, method, steps_per_epoch):
    """`Averaged(optimizer, method)` with settings scaled to the epoch: polyak averages every
    step; swa records once per epoch (Izmailov et al.); ema has decay 1 - 1/steps_per_epoch
    (at least 0.9, at most 0.999), a window of about one epoch."""
    if method == "swa":
        return Averaged(optimizer, "swa", every=steps_per_epoch)
    if method == "ema":
        return Averaged(optimizer, "ema", decay=min(max(1.0 - 1.0 / steps_per_epoch, 0.9), 0.999))
    return Averaged(optimizer, "polyak")


def train_finetune(
    model,
    base,
    data,
    strategy,
    device,
    initial_epoch,
    patience=3,
    callbacks=(),
    verbose="auto",
    average=None,
    snapshots=None,
    snapshot_dir=None,
    progress=None,
    epochs=None,
    class_weight=None,
    label_smoothing=0.0,
    clock=None,
    val_seconds=0.0,
    trace_seconds=0.0,
):
    """Phase 2: unfreeze the top `strategy.unfreeze_fraction` of `base` (BatchNormalization
    frozen) and train with Adam, the backbone at `backbone_lr_factor` times the head's rate
    (a `MultiOptimizer`), by default on a warm-up/cosine schedule.

    Source: Keras' transfer-learning guide (fine-tuning the top of the backbone at a low rate,
    BatchNormalization in inference mode); discriminative rates (Howard & Ruder, ULMFiT, 2018);
    warm-up then cosine decay (`warmup_cosine`).

    With `average` or `snapshots` the phase has no early stopping (it would cut the cycles,
    or put back raw, unaveraged weights); `average` and `snapshots` cannot be combined.

    Args:
        model: the classifier (`build_classifier`), `base` inside it, as phase 1 left it.
        base: the backbone.
        data: an `ImageData`.
        strategy: a `FineTuneStrategy`.
        device: a `DeviceSetup` (`configure_device`).
        initial_epoch: the epochs of phase 1 (phase 2's epochs are numbered after them).
        patience: EarlyStopping patience on val_loss (best weights restored); None: no early
            stopping.
        callbacks: extra Keras callbacks.
        verbose: Keras `fit` verbosity.
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
            step; the phase's epochs are rounded up to a multiple of K (`finetune_epochs`; printed). The
            K models go to `snapshot_dir` (the manifest counts epochs from the phase's start).
            The model itself ends as the last snapshot.
        snapshot_dir: the snapshots' folder; required with `snapshots`.
        progress: see `fit_phase`.
        epochs: the phase's epochs (planned by a time budget); None: `finetune_epochs`.
        class_weight: None or {class: weight}, weighing the training loss.
        label_smoothing: in [0, 1) (`SparseSmoothedCrossentropy`).
        clock: None or a `kerasopt.transfer.budget.Clock`: the fit stops when the next step
            and a validation pass (`val_seconds`) would end past its budget (`TimeBudget`).
        val_seconds: the expected time of one validation pass, for `clock`.
        trace_seconds: the expected extra time of the first validation pass (tracing), for
            `clock`.

    Returns:
        (history dict, phase metrics dict, names of the unfrozen layers); the metrics are
        those of `train_head` plus unfrozen_layers, average and snapshots.

    Raises:
        ValueError: an invalid `average` or `snapshots`, both given, or `snapshots` without
            `snapshot_dir`.

    Example:
        >>> import keras, numpy as np, tensorflow as tf
        >>> from kerasopt.transfer import DeviceSetup, FineTuneStrategy, ImageData, build_classifier
        >>> base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="conv1"),
        ...                          keras.layers.BatchNormalization(name="bn"),
        ...                          keras.layers.Conv2D(4, 3, name="conv2")], name="base")
        >>> model = build_classifier(base, n_classes=2)
        >>> x = np.random.default_rng(0).uniform(0, 255, (8, 8, 8, 3)).astype("float32")
        >>> batches = tf.data.Dataset.from_tensor_slices((x, np.array([0, 1] * 4, "int32"))).batch(4)
        >>> data = ImageData(batches, batches, ["a", "b"], 8, 8, (8, 8), 4, "memory")
        >>> device = DeviceSetup(tf.distribute.get_strategy(), False, False, "CPU")
        >>> from kerasopt.transfer import train_finetune
        >>> strategy = FineTuneStrategy("tiny", unfreeze_fraction=1.0, epochs_head=1, epochs_finetune=1)
        >>> history, metrics, unfrozen = train_finetune(model, base, data, strategy, device,
        ...                                             initial_epoch=1, verbose=0)
        >>> unfrozen, metrics["unfrozen_layers"], metrics["epochs"]  # "bn" stays frozen
        (['conv1', 'conv2'], 2, 1)
        >>> train_finetune(model, base, data, strategy, device, 1, average="swa", snapshots=2)
        Traceback (most recent call last):
        ...
        ValueError: Arguments `average` and `snapshots` cannot be combined ...

    References:
        Howard & Ruder, "Universal Language Model Fine-tuning for Text Classification", ACL 2018.
    """
    check_phase2_options(average, snapshots)
    if snapshots is not None and snapshot_dir is None:
        raise ValueError(
            f"Argument `snapshot_dir` must be a folder when `snapshots` is set. Received: snapshot_dir=None, snapshots={snapshots}"
        )
    if epochs is None:
        epochs = finetune_epochs(strategy, snapshots)
        if epochs != strategy.epochs_finetune:
            print(
                f"Phase 2: {strategy.epochs_finetune} epochs rounded up to {epochs}, a multiple of snapshots={snapshots}."
            )
    elif snapshots is not None and epochs % snapshots:
        epochs = max(snapshots, epochs - epochs % snapshots)  # whole cycles within the plan
    unfrozen = unfreeze_fraction(base, strategy.unfreeze_fraction)
    steps_per_epoch = _batches_per_epoch(data.train)
    if steps_per_epoch <= 0:
        steps_per_epoch = math.ceil(data.n_train / data.batch_size)
    peak, factor = strategy.finetune_learning_rate, strategy.backbone_lr_factor
    extra = list(callbacks)
    if clock is not None:
        extra.append(TimeBudget(clock, val_seconds, trace_seconds))
    if snapshots is None:
        steps = epochs * steps_per_epoch
        head = keras.optimizers.Adam(warmup_cosine(peak, steps, strategy.warmup_fraction))
        body = keras.optimizers.Adam(warmup_cosine(peak * factor, steps, strategy.warmup_fraction))
    else:
        head, body = keras.optimizers.Adam(peak), keras.optimizers.Adam(peak * factor)
        extra.append(
            _DiscriminativeSnapshots(
                snapshot_dir, snapshots, peak, [(head, 1.0), (body, factor)], initial_epoch
            )
        )
    if average is not None:
        head, body = (
            _averaged(head, average, steps_per_epoch),
            _averaged(body, average, steps_per_epoch),
        )
        extra.insert(0, SwapAveragedWeights())
    model.compile(
        optimizer=discriminative_optimizer(
            model, base, head_optimizer=head, backbone_optimizer=body
        ),
        loss=classifier_loss(label_smoothing),
        metrics=["accuracy"],
        jit_compile=device.jit_compile,
    )
    if average is not None or snapshots is not None:
        patience = None
    history, metrics = fit_phase(
        model,
        data,
        epochs,
        initial_epoch,
        patience,
        device,
        extra,
        verbose,
        progress,
        class_weight=class_weight,
    )
    metrics["unfrozen_layers"] = len(unfrozen)
    metrics["planned_epochs"] = epochs
    metrics["stopped_by_budget"] = any(isinstance(c, TimeBudget) and c.stopped for c in extra)
    metrics["average"] = average
    metrics["snapshots"] = snapshots
    return history, metrics, unfrozen


def train_scratch(
    model, data, strategy, device, patience=3, callbacks=(), verbose="auto", progress=None
):
    """The random-initialization baseline: every layer trained from the start (BatchNormalization
    included) with Adam at `strategy.head_learning_rate` for `epochs_head + epochs_finetune`
    epochs, the budget of the two phases.

    Source: the course's transfer-learning section (the comparison against training from
    scratch; Yosinski et al., 2014).

    Args:
        model: the classifier (`build_classifier`, usually on a backbone with `weights=None`).
        data: an `ImageData`.
        strategy: a `FineTuneStrategy` (its epochs and `head_learning_rate`).
        device: a `DeviceSetup` (`configure_device`).
        patience: EarlyStopping patience on val_loss (best weights restored); None: no early
            stopping.
        callbacks: extra Keras callbacks.
        verbose: Keras `fit` verbosity.
        progress: the resume state of `kerasopt.transfer.run_folder`, or None.

    Returns:
        (history dict, phase metrics dict), as `train_head`.

    Example:
        >>> import keras, numpy as np, tensorflow as tf
        >>> from kerasopt.transfer import DeviceSetup, FineTuneStrategy, ImageData, build_classifier
        >>> base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="conv1"),
        ...                          keras.layers.BatchNormalization(name="bn"),
        ...                          keras.layers.Conv2D(4, 3, name="conv2")], name="base")
        >>> model = build_classifier(base, n_classes=2)
        >>> x = np.random.default_rng(0).uniform(0, 255, (8, 8, 8, 3)).astype("float32")
        >>> batches = tf.data.Dataset.from_tensor_slices((x, np.array([0, 1] * 4, "int32"))).batch(4)
        >>> data = ImageData(batches, batches, ["a", "b"], 8, 8, (8, 8), 4, "memory")
        >>> device = DeviceSetup(tf.distribute.get_strategy(), False, False, "CPU")
        >>> from kerasopt.transfer import freeze, train_scratch
        >>> _ = freeze(model)
        >>> strategy = FineTuneStrategy("tiny", unfreeze_fraction=0.0, epochs_head=1, epochs_finetune=2)
        >>> history, metrics = train_scratch(model, data, strategy, device, patience=None, verbose=0)
        >>> metrics["epochs"], model.trainable  # epochs_head + epochs_finetune, all unfrozen
        (3, True)
        >>> [w.name for w in model.non_trainable_weights]  # BatchNormalization's statistics only
        ['moving_mean', 'moving_variance']

    References:
        Yosinski et al., "How transferable are features in deep neural networks?", NeurIPS 2014.
    """
    model.trainable = True
    model.compile(
        optimizer=keras.optimizers.Adam(strategy.head_learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=device.jit_compile,
    )
    epochs = strategy.epochs_head + strategy.epochs_finetune
    return fit_phase(model, data, epochs, 0, patience, device, callbacks, verbose, progress)


def confusion_matrix(model, dataset, n_classes):
    """Counts (true class, predicted class) of `model` on a dataset of (images, labels).

    Args:
        model: a classifier whose outputs are per-class scores (the argmax is the prediction).
        dataset: batches of (inputs, integer labels), e.g. `ImageData.val`.
        n_classes: the number of classes.

    Returns:
        An int64 array of shape (n_classes, n_classes): row = true class, column = predicted.

    Example:
        >>> import keras, numpy as np, tensorflow as tf
        >>> from kerasopt.transfer import confusion_matrix
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, use_bias=False,
        ...                           kernel_initializer="identity")])  # predicts argmax(x)
        >>> x = np.array([[1, 0], [0, 1], [0, 1], [1, 0], [0, 1]], "float32")  # predicted 0, 1, 1, 0, 1
        >>> y = np.array([0, 1, 0, 0, 1])
        >>> confusion_matrix(model, tf.data.Dataset.from_tensor_slices((x, y)).batch(2), 2).tolist()
        [[2, 1], [0, 2]]
    """
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    for images, labels in dataset:
        # A direct call, not predict_on_batch: under MultiWorkerMirroredStrategy the latter
        # gathers every worker's predictions into one array, longer than `labels`.
        predicted = np.argmax(keras.ops.convert_to_numpy(model(images, training=False)), axis=-1)
        np.add.at(matrix, (keras.ops.convert_to_numpy(labels), predicted), 1)
    return matrix
