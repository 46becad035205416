"""Phase 2: the top of the backbone unfrozen and trained with discriminative rates, optionally
with weight averaging or a snapshot ensemble.

Source: Keras' transfer-learning guide (fine-tuning the top of the backbone at a low rate,
BatchNormalization in inference mode); Howard & Ruder, ULMFiT, 2018 (discriminative rates);
warm-up then cosine decay (`kerasopt.transfer.schedule`). Weight averaging: Polyak & Juditsky,
1992; EMA; SWA, Izmailov et al., 2018. Snapshot ensembles: Huang et al., 2017. No file I/O.
"""

import math

import keras

from kerasopt.callbacks.averaging import SwapAveragedWeights
from kerasopt.callbacks.snapshot import SnapshotEnsemble
from kerasopt.optimizers.averaging import Averaged
from kerasopt.transfer.budget import StepLimit, TimeBudget
from kerasopt.transfer.config import check_phase2_options
from kerasopt.transfer.fitting import fit_phase
from kerasopt.transfer.freezing import discriminative_optimizer, unfreeze_fraction
from kerasopt.transfer.losses import classifier_loss
from kerasopt.transfer.lr_range import batches_per_epoch
from kerasopt.transfer.schedule import warmup_cosine


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
    steps=None,
    class_weight=None,
    label_smoothing=0.0,
    clock=None,
    val_seconds=0.0,
    trace_seconds=0.0,
    reserve_seconds=0.0,
    cached=None,
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
        steps: None (whole epochs), or the phase's training steps when its last epoch is
            partial (`kerasopt.transfer.plan_steps`): the schedule ends there and `StepLimit`
            stops the fit. Not with `snapshots` (whole cycles).
        class_weight: None or {class: weight}, weighing the training loss.
        label_smoothing: in [0, 1) (`SparseSmoothedCrossentropy`).
        clock: None or a `kerasopt.transfer.budget.Clock`: the fit stops when the next step
            and a validation pass (`val_seconds`) would end past its budget (`TimeBudget`).
        val_seconds: the expected time of one validation pass, for `clock`.
        trace_seconds: the expected extra time of the first validation pass (tracing), for
            `clock`.
        reserve_seconds: the time the work after phase 2 needs (evaluation, export), kept
            back from `clock`'s budget for the whole fit.
        cached: None, or the `kerasopt.transfer.cached_top.CachedActivations` of `model` cut
            below the unfrozen layers (`split_classifier`, made after unfreezing the same
            fraction): the top is trained on them (`model` shares its layers, so it ends with
            the trained weights); `callbacks` then see the top model (wrap the user's in
            `SeesClassifier`). Not with `snapshots` (the members must be whole classifiers).

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
    if cached is not None and snapshots is not None:
        raise ValueError(
            "Arguments `cached` and `snapshots` cannot be combined (snapshot members are whole "
            f"classifiers). Received: snapshots={snapshots}"
        )
    unfrozen = unfreeze_fraction(base, strategy.unfreeze_fraction)
    if cached is None:
        trained, trained_base, fit_data = model, base, data
        steps_per_epoch = batches_per_epoch(data.train)
        if steps_per_epoch <= 0:
            steps_per_epoch = math.ceil(data.n_train / data.batch_size)
    else:
        trained, trained_base, fit_data = cached.split.top, cached.split.backbone_top, cached
        cached.epochs = epochs
        steps_per_epoch = cached.steps_per_epoch
    peak, factor = strategy.finetune_learning_rate, strategy.backbone_lr_factor
    extra = list(callbacks)
    if clock is not None:
        extra.append(TimeBudget(clock, val_seconds, trace_seconds, reserve_seconds))
    if snapshots is None:
        if steps is not None and steps < epochs * steps_per_epoch:
            extra.append(StepLimit(steps, steps_per_epoch, initial_epoch))
        else:
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
    trained.compile(
        optimizer=discriminative_optimizer(
            trained, trained_base, head_optimizer=head, backbone_optimizer=body
        ),
        loss=classifier_loss(label_smoothing),
        metrics=["accuracy"],
        jit_compile=device.jit_compile,
    )
    if average is not None or snapshots is not None:
        patience = None
    history, metrics = fit_phase(
        trained,
        fit_data,
        epochs,
        initial_epoch,
        patience,
        device,
        extra,
        verbose,
        progress,
        class_weight=None if cached is not None else class_weight,  # cached: in its batches
    )
    if cached is not None:  # the classifier carries the trained optimizer (model.keras saves it)
        model.compile(
            optimizer=trained.optimizer,
            loss=trained.loss,
            metrics=["accuracy"],
            jit_compile=device.jit_compile,
        )
    metrics["unfrozen_layers"] = len(unfrozen)
    metrics["planned_epochs"] = epochs
    metrics["planned_steps"] = steps if snapshots is None else None
    metrics["stopped_by_budget"] = any(isinstance(c, TimeBudget) and c.stopped for c in extra)
    metrics["average"] = average
    metrics["snapshots"] = snapshots
    return history, metrics, unfrozen
