"""The two-phase fine-tuning procedure, from data to a published run folder.

Source: the course's transfer-learning section and Keras' transfer-learning guide (Chollet);
the phases themselves (`kerasopt.transfer.phases`): phase 1 trains a new head on the frozen
ImageNet backbone; phase 2 unfreezes the top of the backbone (BatchNormalization kept frozen)
and trains on with a lower learning rate, the backbone slower than the head (Howard & Ruder,
ULMFiT, 2018), warm-up then cosine decay (Goyal et al., 2017; Loshchilov & Hutter, SGDR, 2017).
On a GPU: mixed precision (Micikevicius et al., 2018) and XLA compilation; several GPUs:
`tf.distribute.MirroredStrategy` (`kerasopt.transfer.device`). TensorFlow backend.

Phase 2 options: weight averaging of the iterates (`average`: Polyak & Juditsky, 1992; EMA;
SWA, Izmailov et al., 2018; `kerasopt.optimizers.Averaged`) or a snapshot ensemble (`snapshots`:
Huang et al., 2017; `kerasopt.callbacks.SnapshotEnsemble`, `kerasopt.ensembles`).

The run folder receives model.keras, saved_model/ (serving signature `serve`: raw float32 RGB
images in [0, 255], any size, -> class probabilities), metrics.json, class_names.json,
log.csv, tensorboard/, checkpoints/, training_curves.png and confusion_matrix.png; with
`snapshots`, also snapshots/ (the members and their manifest) and ensemble/ (model.keras and
saved_model/ of the averaged ensemble, served like the single model). It is written in a
staging folder and published whole; an interrupted run resumes (`kerasopt.transfer.run_folder`).

Several workers (`TF_CONFIG`, `kerasopt.distributed`): every worker runs `fine_tune` with the
same arguments under `tf.distribute.MultiWorkerMirroredStrategy`; only the chief writes the run
folder and its staging and resume siblings. The other workers do the same work (saving and
exporting included, so that every collective operation has its partner) into a private
temporary folder, removed when they finish.
"""

import dataclasses
import shutil
import tempfile
from pathlib import Path

import keras

from kerasopt import distributed
from kerasopt.transfer.backbones import backbone, get_spec
from kerasopt.transfer.budget import Clock
from kerasopt.transfer.classifier import build_classifier
from kerasopt.transfer.config import FineTuneConfig
from kerasopt.transfer.device import configure_device
from kerasopt.transfer.evaluation import (
    classification_report,
    confusion_matrix,
    count_pairs,
    predict_split,
    top_losses,
)
from kerasopt.transfer.phases import RunState, keep_the_better_phase, plan
from kerasopt.transfer.run_folder import RunFolder, check_run_dir
from kerasopt.transfer.strategy import preset


@dataclasses.dataclass
class FineTuneResult:
    """The trained classifier, its backbone (a part of `model`), the run folder and its metrics.

    What `fine_tune` returns: `model` (also saved as run_dir/model.keras), `backbone`, the
    published `run_dir` and the `metrics` written to run_dir/metrics.json.

    Example:
        >>> import dataclasses
        >>> from kerasopt.transfer import FineTuneResult
        >>> [field.name for field in dataclasses.fields(FineTuneResult)]
        ['model', 'backbone', 'run_dir', 'metrics']
    """

    model: keras.Model
    backbone: keras.Model
    run_dir: Path
    metrics: dict


def fine_tune(data, run_dir, config=None, *, finetune_callbacks=(), clock=None, **changes):
    """Fine-tune on `data` (an `ImageData`), evaluate once on its test split, publish `run_dir`.

    The adaptive procedure (docs/guides/transfer.md):

    1. The frozen backbone runs once per training and validation image (`cache_features`);
       phase 1 trains the head on the cached features (`train_head_on_features`), at a rate
       from the LR range test (`lr_range_test`) unless given.
    2. With `strategy=None` and no `similarity`, the plan is decided from measurements
       (`kerasopt.transfer.auto.decide`: the probe's train and validation accuracy, class
       count, dataset size, image statistics), printed and recorded in metrics["auto"].
    3. Phase 2 (when the plan unfreezes anything) unfreezes the top of the backbone and trains
       it, on the cached activations of the frozen bottom (`cached_activations`) or on
       augmented images, with a warm-up/cosine schedule peaking at `FINETUNE_LR` (1e-3) for
       the top, the backbone at `backbone_lr_factor` times it (fastai's `fine_tune` base
       rate and discriminative rates), for the plan's epochs or as many as `time_budget`
       allows (planned from measured step times, keeping back the evaluation and export;
       `TimeBudget` stops cleanly, the best weights are kept). When phase 2 ends with a
       higher validation loss than the head phase, the head phase's weights are kept instead
       (`keep_the_better_phase`; metrics["kept_phase"]; not with `average` or `snapshots`).
    4. The test split (`data.test`; the validation split when there is none, recorded in
       metrics["test_split"]) is evaluated once: accuracy, loss, per-class
       precision/recall/F1, most-confused pairs, top_losses.png; with `tta`, with and without
       test-time augmentation.

    With `weights=None` there is nothing to transfer: the same architecture is trained from
    random initialization instead (`train_scratch`, one phase "scratch", the strategy's epoch
    budget; "auto" uses the "several" preset's), the baseline of the transfer-learning
    comparison.

    Args:
        data: `kerasopt.transfer.image_dataset(...)` output (with `test_split` for a test set).
        run_dir: the run folder. It is written as `run_dir.partial/` and renamed to `run_dir`
            when complete (see `kerasopt.transfer.run_folder`); the resume state lives in
            `run_dir.resume/` meanwhile.
        config: a `FineTuneConfig` (default: `FineTuneConfig()`); its fields:
            backbone: a key of `kerasopt.transfer.BACKBONES`.
            strategy: a `FineTuneStrategy`; None: decided from the data (see above), or by the
                course's table when `similarity` is given.
            similarity: None (measure), or "similar" / "different" (to ImageNet): the override
                that picks `choose_strategy(similarity, data.n_train)`.
            weights: passed to `kerasopt.transfer.backbone`: "imagenet", None (random
                initialization: the scratch baseline) or a weights file.
            alpha: passed to `kerasopt.transfer.backbone` (MobileNet width multiplier).
            dropout: dropout rate before the head.
            mixed_precision, xla, distribute: "auto", True or False (see `configure_device`).
            patience: EarlyStopping patience (epochs without a lower val_loss) of phase 2 and of
                a phase 1 of fixed length; phase 1 of the automatic plan uses `HEAD_PATIENCE`.
            verbose: Keras `fit` verbosity; "auto": a progress bar on a terminal, one line per
                epoch otherwise.
            average: None or "polyak", "ema", "swa": weight averaging in phase 2 (see
                `train_finetune`). Needs `weights` (not None) and a strategy that fine-tunes.
            snapshots: None or K: a snapshot ensemble of K models in phase 2 (see
                `train_finetune`), written to run_dir/snapshots/ and exported to
                run_dir/ensemble/. Needs `weights` (not None) and a strategy that fine-tunes.
            overwrite: replace an existing run folder (only once this run has succeeded), or
                discard an interrupted run's state. Without it, both are refused
                (`RunFolderError`) before any work.
            resume: continue the interrupted run of `run_dir` from the last completed epoch,
                with the same config (others are refused). Not on a cluster of several workers.
            time_budget: None or minutes (> 0) for the whole run, counted from `clock`'s start:
                caching, range tests, both phases, and the evaluation and export that follow
                (their time is kept back when phase 2 is planned).
            head_learning_rate: "find" (LR range test on the cached features), None (the
                strategy's) or a rate.
            finetune_learning_rate: "auto" (`kerasopt.transfer.phases.FINETUNE_LR`, the top's
                peak rate; the backbone's is `backbone_lr_factor` times it), "find" (LR range
                test on phase 2's model), None (the strategy's) or a rate.
            label_smoothing: in [0, 1) (`SparseSmoothedCrossentropy`).
            class_weight: "auto" (balanced weights when the classes are unbalanced,
                `kerasopt.transfer.auto.class_weights`), "balanced", None, or {class: weight}.
            tta: None, "flip" or "five_crop": also report the test metrics with test-time
                augmentation (`kerasopt.layers.TestTimeAugmentation`).
            cached_activations: True (default): phase 2 trains the unfrozen top of the
                backbone and the head on the activations of the frozen bottom, computed once
                per image (`kerasopt.transfer.cached_top`; recorded in the phase's metrics),
                when there is a frozen bottom, no `snapshots`, one replica and the activations
                fit in `MAX_CACHE_BYTES`; False: every step runs the whole backbone.
            cache_views: versions of each training image cached for phase 2: the image, then
                augmented copies (each epoch draws one per image).
            overrides: {FineTuneStrategy field: value} applied to the plan (e.g.
                {"epochs_head": 2}).
        finetune_callbacks: extra Keras callbacks for phase 2.
        clock: a `kerasopt.transfer.budget.Clock` started when the command started (its budget
            is replaced by `time_budget`); None: a clock started now.
        **changes: `FineTuneConfig` fields that replace the config's (checked again).

    Returns:
        A `FineTuneResult`.

    Raises:
        RunFolderError: `run_dir` cannot be used as asked (see `overwrite`, `resume`).
        ValueError: an invalid argument, e.g. `average` or `snapshots` without a phase 2, or
            `resume` or `snapshots` on a cluster of several workers (the error names the
            `FineTuneConfig` field and its value).
        TypeError: `strategy` is not a `FineTuneStrategy`, or an unknown option in `changes`.

    Example:
        A full run trains a `keras.applications` backbone and writes a SavedModel (about 30 s on
        a CPU even at 32x32 pixels), too slow for this example: it shows the checks that come
        before any work, on the data of a real call.

        >>> import os, tempfile, numpy as np, tensorflow as tf
        >>> from kerasopt.transfer import FineTuneStrategy, ImageData, fine_tune
        >>> x = np.zeros((4, 32, 32, 3), "float32")
        >>> batches = tf.data.Dataset.from_tensor_slices((x, np.array([0, 1, 0, 1]))).batch(2)
        >>> data = ImageData(batches, batches, ["a", "b"], 4, 4, (32, 32), 2, "memory")
        >>> run = os.path.join(tempfile.mkdtemp(), "run")
        >>> fine_tune(data, run, weights=None, average="swa")  # no phase 2 to average
        Traceback (most recent call last):
        ...
        ValueError: Arguments `average` and `snapshots` act on phase 2 (fine-tuning), which this run does not have ...
        >>> fine_tune(data, run, patience=0)
        Traceback (most recent call last):
        ...
        ValueError: Argument `patience` must be an integer >= 1. Received: patience=0
        >>> fine_tune(data, run, time_budget=0)
        Traceback (most recent call last):
        ...
        ValueError: Argument `time_budget` must be in (0, inf). Received: time_budget=0
        >>> os.path.exists(run)  # nothing was written
        False
    """
    config = dataclasses.replace(config or FineTuneConfig(), **changes)
    if distributed.in_cluster() and config.distribute is not False:
        if config.resume or config.snapshots is not None:
            raise ValueError(
                "Arguments `resume` and `snapshots` are not supported on a cluster of several workers "
                f"(TF_CONFIG). Received: resume={config.resume!r}, snapshots={config.snapshots!r}"
            )
    run_dir = Path(run_dir)
    private = None if distributed.is_chief() else Path(tempfile.mkdtemp(prefix="kerasopt_worker_"))
    write_dir = private / run_dir.name if private else run_dir
    check_run_dir(write_dir, config.overwrite, config.resume)
    clock = clock or Clock()
    clock.budget = None if config.time_budget is None else 60.0 * config.time_budget
    try:
        return _fine_tune(data, run_dir, write_dir, config, tuple(finetune_callbacks), clock)
    finally:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)


def _fine_tune(data, run_dir, write_dir, config, finetune_callbacks, clock):
    """`fine_tune` after its checks: the phases (`kerasopt.transfer.phases.plan`), then one
    evaluation on the test split, then the run folder published. Everything is written under
    `write_dir` (`run_dir` on the chief, a private temporary folder on the other workers)."""
    previous_policy = keras.mixed_precision.global_policy()
    device = configure_device(config.mixed_precision, config.xla, config.distribute)
    try:
        with device.distribution.scope():
            state = _start(data, write_dir, config, device, clock, finetune_callbacks)
            moments = {"model_built": clock.elapsed()}  # seconds from the command's start
            for phase in plan(state):
                trained = _step(phase, state)
                moments[f"{phase.name}_done"] = clock.elapsed()
                if not trained:
                    break
            history = state.folder.history(state.history)
            kept = keep_the_better_phase(state)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    metrics = _evaluate(state, history, kept)
    moments["evaluated"] = clock.elapsed()
    metrics["seconds_from_start"] = {k: round(v, 2) for k, v in moments.items()}
    title = f"{config.backbone} on {Path(data.source).name or data.source}"
    state.folder.publish(
        state.model,
        metrics,
        data.class_names,
        metrics.pop("_matrix"),
        state.starts,
        title,
        metrics.pop("_worst"),
    )
    return FineTuneResult(state.model, state.base, run_dir, metrics)


def _start(data, write_dir, config, device, clock, finetune_callbacks):
    """The classifier on its backbone, the run folder, and the plan known before training."""
    spec = get_spec(config.backbone)
    base = backbone(
        config.backbone,
        weights=config.weights,
        input_shape=(*data.image_size, 3),
        alpha=config.alpha,
    )
    model = build_classifier(
        base,
        len(data.class_names),
        dropout=config.dropout,
        preprocessing=spec.preprocessing,
        inference_backbone=config.weights is not None,
    )
    folder = RunFolder(
        write_dir, _record(config, data), overwrite=config.overwrite, resume=config.resume
    )
    strategy = config.planned_strategy(data.n_train)
    if config.weights is None:
        strategy = strategy or preset("several")
    return RunState(
        config,
        data,
        model,
        base,
        device,
        folder,
        clock,
        strategy,
        finetune_callbacks=finetune_callbacks,
    )


def _step(phase, state):
    """Run `phase` (or restore it from the run folder); False when it trained nothing."""
    folder = state.folder
    state.starts[phase.label] = state.start
    if phase.name in folder.completed:
        metrics = folder.completed[phase.name]["metrics"]
        folder.load_phase_end(phase.name, state.model)
        phase.restore(state, metrics)
    else:
        history, metrics = phase.run(state)
        if metrics is None:  # not one epoch fits in the budget
            return False
        if phase.final:
            state.history = history
        else:
            folder.complete_phase(phase.name, state.model, history, metrics)
    state.metrics[phase.name] = metrics
    state.start += metrics["epochs"]
    return True


# How the run is driven, not what it trains: a resumed run may change these.
_NOT_RECORDED = {
    "overwrite",
    "resume",
    "verbose",
    "time_budget",
    "mixed_precision",
    "xla",
    "distribute",
    "tta",
}


def _record(config, data):
    """What the run folder records of the run (a resumed run must match it): the config, less
    the options that do not change what is trained (`_NOT_RECORDED`), and the data's
    description."""
    recorded = {k: v for k, v in dataclasses.asdict(config).items() if k not in _NOT_RECORDED}
    return {
        "config": recorded,
        "source": data.source,
        "class_names": list(data.class_names),
        "n_train": data.n_train,
        "n_val": data.n_val,
        "n_test": data.n_test,
        "image_size": list(data.image_size),
        "batch_size": data.batch_size,
    }


def _evaluate(state, history, kept):
    """The metrics of the finished run, whose model holds the `kept` phase's weights: the
    phases, and the test split read once, here."""
    config, data, model = state.config, state.data, state.model
    n_classes = len(data.class_names)
    training_seconds = state.clock.elapsed()
    if kept in state.val_predictions:  # the kept weights' validation outputs, already known
        probs, labels = state.val_predictions[kept]
        matrix = count_pairs(labels, probs.argmax(axis=1), n_classes)
    else:
        matrix = confusion_matrix(model, data.val, n_classes)
    test, test_name = (data.test, "test") if data.test is not None else (data.val, "val")
    probs, labels = predict_split(model, test)
    report = classification_report(probs, labels, data.class_names, label_smoothing=0.0)
    with_tta = None
    if config.tta is not None:
        tta_probs, _ = predict_split(model, test, config.tta)
        with_tta = classification_report(tta_probs, labels, data.class_names)
    phases = state.metrics
    return {
        "config": dataclasses.asdict(config),
        "backbone": config.backbone,
        "source": data.source,
        "image_size": list(data.image_size),
        "n_train": data.n_train,
        "n_val": data.n_val,
        "n_test": data.n_test,
        "test_split": test_name,
        "strategy": dataclasses.asdict(state.strategy),
        "auto": state.decision,
        "average": config.average,
        "snapshots": config.snapshots,
        "label_smoothing": config.label_smoothing,
        "class_weight": state.class_weight,
        "time_budget_minutes": config.time_budget,
        "training_seconds": round(training_seconds, 2),
        "phases": phases,
        "kept_phase": kept,
        "val_accuracy": phases[kept]["val_accuracy"],
        "val_loss": phases[kept]["val_loss"],
        "confusion_matrix": matrix,
        "test_accuracy": report["accuracy"],
        "test_loss": report["loss"],
        "test": report,
        "tta": None if with_tta is None else {"mode": config.tta, **with_tta},
        "history": history,
        "_matrix": matrix,
        "_worst": top_losses(probs, labels, test),
    }
