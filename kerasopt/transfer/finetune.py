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
import math
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np

from kerasopt import distributed
from kerasopt._validation import (
    check_bool,
    check_choice,
    check_int,
    check_positive,
    check_range,
)
from kerasopt.transfer.auto import class_weights, decide
from kerasopt.transfer.backbones import backbone, get_spec
from kerasopt.transfer.budget import Clock, plan_epochs
from kerasopt.transfer.classifier import build_classifier
from kerasopt.transfer.device import configure_device
from kerasopt.transfer.evaluation import (
    TTA_MODES,
    classification_report,
    predict_split,
    top_losses,
)
from kerasopt.transfer.features import (
    cache_features,
    feature_extractor,
    fit_verbosity,
    head_model,
    image_statistics,
)
from kerasopt.transfer.freezing import freeze, unfreeze_fraction
from kerasopt.transfer.phases import (
    check_phase2_options,
    classifier_loss,
    confusion_matrix,
    finetune_epochs,
    lr_range_test,
    train_finetune,
    train_head_on_features,
    train_scratch,
)
from kerasopt.transfer.run_folder import RunFolder, check_run_dir
from kerasopt.transfer.strategy import FineTuneStrategy, choose_strategy, preset

# Defaults chosen by measurement (docs/guides/transfer.md, "Defaults chosen by measurement").
LABEL_SMOOTHING = 0.1
HEAD_EPOCHS = 10  # phase 1 on cached features, automatic plan: one cycle of this many epochs
HEAD_PATIENCE = 10  # ... the best epoch's weights kept (no early stop inside the cycle)
HEAD_BATCH = 32  # phase 1's batch size on cached features
HEAD_LR_RANGE = (1e-4, 1e-2)  # the range test's suggestion is clipped to these rates
FINETUNE_LR_RANGE = (1e-5, 1e-3)
FINETUNE_SWEEP_STEPS = 40

_LABELS = {"scratch": "scratch", "head": "head", "finetune": "fine-tune"}


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


def _fast_forward(data, epochs):
    """Draw `epochs` epochs of `data.train` as `fit` does, on a model with nothing to learn: a
    resumed run then gets the shuffles and augmentations that the uninterrupted run got after
    that many epochs (the pipeline's seeds advance with each iterator `fit` creates)."""
    if epochs == 0:
        return
    images = keras.Input(shape=(*data.image_size, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(images)
    dummy = keras.Model(images, keras.layers.Dense(1, kernel_initializer="zeros")(pooled))
    dummy.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    dummy.fit(data.train, epochs=epochs, verbose=0)


def _check_rate(name, value):
    if isinstance(value, str) and value == "find":
        return value
    if value is None:
        return value
    return check_positive(name, value)


def fine_tune(
    data,
    run_dir,
    backbone_name="mobilenet_v2",
    strategy=None,
    similarity=None,
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
    overwrite=False,
    resume=False,
    time_budget=None,
    head_learning_rate="find",
    finetune_learning_rate="find",
    label_smoothing=LABEL_SMOOTHING,
    class_weight="auto",
    tta=None,
    overrides=None,
):
    """Fine-tune on `data` (an `ImageData`), evaluate once on its test split, publish `run_dir`.

    The adaptive procedure (docs/guides/transfer.md):

    1. The frozen backbone runs once per training and validation image (`cache_features`);
       phase 1 trains the head on the cached features (`train_head_on_features`), at a rate
       from the LR range test (`lr_range_test`) unless given.
    2. With `strategy=None` and no `similarity`, the plan is decided from measurements
       (`kerasopt.transfer.auto.decide`: the probe's train and validation accuracy, class
       count, dataset size, image statistics), printed and recorded in metrics["auto"].
    3. Phase 2 (when the plan unfreezes anything) unfreezes the top of the backbone and trains
       on augmented images with a warm-up/cosine schedule at a rate from the LR range test,
       for the plan's epochs or as many as `time_budget` allows (planned from the range
       test's measured step times; `TimeBudget` stops cleanly, the best weights are kept).
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
        backbone_name: a key of `kerasopt.transfer.BACKBONES`.
        strategy: a `FineTuneStrategy`; None: decided from the data (see above), or by the
            course's table when `similarity` is given.
        similarity: None (measure), or "similar" / "different" (to ImageNet): the override
            that picks `choose_strategy(similarity, data.n_train)`.
        weights: passed to `kerasopt.transfer.backbone`: "imagenet", None (random
            initialization: the scratch baseline) or a weights file.
        alpha: passed to `kerasopt.transfer.backbone` (MobileNet width multiplier).
        dropout: dropout rate before the head.
        mixed_precision: "auto", True or False (see `configure_device`).
        xla: "auto", True or False (see `configure_device`).
        distribute: "auto", True or False (see `configure_device`).
        patience: EarlyStopping patience (epochs without a lower val_loss) of phase 2 and of
            a phase 1 of fixed length; phase 1 of the automatic plan uses `HEAD_PATIENCE`.
        finetune_callbacks: extra Keras callbacks for phase 2.
        verbose: Keras `fit` verbosity; "auto": a progress bar on a terminal, one line per
            epoch otherwise.
        average: None or "polyak", "ema", "swa": weight averaging in phase 2 (see
            `train_finetune`); metrics["average"] records it. Needs `weights` (not None) and a
            strategy that fine-tunes.
        snapshots: None or K: a snapshot ensemble of K models in phase 2 (see `train_finetune`),
            written to run_dir/snapshots/ and exported to run_dir/ensemble/. Needs `weights`
            (not None) and a strategy that fine-tunes.
        overwrite: replace an existing run folder (only once this run has succeeded), or
            discard an interrupted run's state. Without it, both are refused
            (`RunFolderError`) before any work.
        resume: continue the interrupted run of `run_dir` from the last completed epoch, with
            the same arguments (others are refused). Not on a cluster of several workers.
        time_budget: None or minutes (> 0) for the training (caching, range tests, both
            phases); the final evaluation and export follow it.
        head_learning_rate: "find" (LR range test on the cached features), None (the
            strategy's) or a rate.
        finetune_learning_rate: "find" (LR range test on phase 2's model), None (the
            strategy's) or a rate.
        label_smoothing: in [0, 1) (`SparseSmoothedCrossentropy`); default `LABEL_SMOOTHING`.
        class_weight: "auto" (balanced weights when the classes are unbalanced,
            `kerasopt.transfer.auto.class_weights`), "balanced", None, or {class: weight}.
        tta: None, "flip" or "five_crop": also report the test metrics with test-time
            augmentation (`kerasopt.layers.TestTimeAugmentation`).
        overrides: None or {FineTuneStrategy field: value} applied to the preset the
            automatic plan picks (e.g. {"epochs_head": 2}); with `strategy` None only.

    Returns:
        A `FineTuneResult`.

    Raises:
        RunFolderError: `run_dir` cannot be used as asked (see `overwrite`, `resume`).
        ValueError: an invalid argument, e.g. `average` or `snapshots` without a phase 2, or
            `resume` or `snapshots` on a cluster of several workers.
        TypeError: `strategy` is not a `FineTuneStrategy`.

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
    check_choice("similarity", similarity, (None, "similar", "different"))
    if strategy is None and similarity is not None:
        strategy = choose_strategy(similarity, data.n_train)
    if strategy is not None and not isinstance(strategy, FineTuneStrategy):
        raise TypeError(
            f"Argument `strategy` must be a FineTuneStrategy or None. Received: strategy={strategy!r}"
        )
    unknown = set(overrides or {}) - {f.name for f in dataclasses.fields(FineTuneStrategy)}
    if unknown:
        raise ValueError(
            f"Argument `overrides` must name FineTuneStrategy fields. Received: overrides={overrides!r}"
        )
    if strategy is not None and overrides:
        strategy = dataclasses.replace(strategy, **overrides)
    check_int("patience", patience, minimum=1)
    check_phase2_options(average, snapshots)
    check_bool("overwrite", overwrite)
    check_bool("resume", resume)
    if time_budget is not None:
        check_positive("time_budget", time_budget)
    _check_rate("head_learning_rate", head_learning_rate)
    _check_rate("finetune_learning_rate", finetune_learning_rate)
    check_range("label_smoothing", label_smoothing, 0, 1, high_inclusive=False)
    if not isinstance(class_weight, dict):
        check_choice("class_weight", class_weight, ("auto", "balanced", None))
    check_choice("tta", tta, (None, *TTA_MODES))
    fine_tunes = strategy.fine_tunes if strategy is not None else True
    if (average is not None or snapshots is not None) and (weights is None or not fine_tunes):
        raise ValueError(
            "Arguments `average` and `snapshots` act on phase 2 (fine-tuning), which this run does not have "
            f"(weights=None, or a strategy with no unfrozen layers or no fine-tuning epochs). Received: "
            f"average={average!r}, snapshots={snapshots!r}, weights={weights!r}, "
            f"strategy={getattr(strategy, 'name', 'auto')!r}"
        )
    if weights is not None and strategy is not None and strategy.epochs_head < 1:
        raise ValueError(
            "Argument `strategy` must train the head for at least one epoch (phase 2 starts from it). "
            f"Received: epochs_head={strategy.epochs_head}"
        )
    if distributed.in_cluster() and distribute is not False and (resume or snapshots is not None):
        raise ValueError(
            "Arguments `resume` and `snapshots` are not supported on a cluster of several workers "
            f"(TF_CONFIG). Received: resume={resume!r}, snapshots={snapshots!r}"
        )
    spec = get_spec(backbone_name)
    run_dir = Path(run_dir)
    private = None if distributed.is_chief() else Path(tempfile.mkdtemp(prefix="kerasopt_worker_"))
    options = Options(
        backbone_name,
        spec,
        strategy,
        weights,
        alpha,
        dropout,
        mixed_precision,
        xla,
        distribute,
        patience,
        tuple(finetune_callbacks),
        fit_verbosity(verbose),
        average,
        snapshots,
        overwrite,
        resume,
        time_budget,
        head_learning_rate,
        finetune_learning_rate,
        label_smoothing,
        class_weight,
        tta,
        dict(overrides or {}),
    )
    try:
        return _fine_tune(data, run_dir, private / run_dir.name if private else run_dir, options)
    finally:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)


@dataclasses.dataclass(frozen=True)
class Options:
    """`fine_tune`'s arguments after their checks."""

    backbone_name: str
    spec: object
    strategy: object
    weights: object
    alpha: object
    dropout: float
    mixed_precision: object
    xla: object
    distribute: object
    patience: int
    finetune_callbacks: tuple
    verbose: object
    average: object
    snapshots: object
    overwrite: bool
    resume: bool
    time_budget: object
    head_learning_rate: object
    finetune_learning_rate: object
    label_smoothing: float
    class_weight: object
    tta: object
    overrides: dict


def _fine_tune(data, run_dir, write_dir, o):
    """`fine_tune` after its checks; everything is written under `write_dir` (`run_dir` on the
    chief, a private temporary folder on the other workers)."""
    check_run_dir(write_dir, o.overwrite, o.resume)
    clock = Clock(None if o.time_budget is None else 60.0 * o.time_budget)
    strategy = o.strategy
    config = {
        "backbone": o.backbone_name,
        "strategy": "auto" if strategy is None else dataclasses.asdict(strategy),
        "weights": o.weights,
        "alpha": o.alpha,
        "dropout": o.dropout,
        "patience": o.patience,
        "average": o.average,
        "snapshots": o.snapshots,
        "head_learning_rate": o.head_learning_rate,
        "finetune_learning_rate": o.finetune_learning_rate,
        "label_smoothing": o.label_smoothing,
        "class_weight": o.class_weight,
        "overrides": o.overrides,
        "source": data.source,
        "class_names": list(data.class_names),
        "n_train": data.n_train,
        "n_val": data.n_val,
        "n_test": data.n_test,
        "image_size": list(data.image_size),
        "batch_size": data.batch_size,
    }
    n_classes = len(data.class_names)
    previous_policy = keras.mixed_precision.global_policy()
    device = configure_device(o.mixed_precision, o.xla, o.distribute)
    phases, starts, history, decision = {}, {}, {}, None
    try:
        with device.distribution.scope():
            base = backbone(
                o.backbone_name, weights=o.weights, input_shape=(*data.image_size, 3), alpha=o.alpha
            )
            model = build_classifier(
                base,
                n_classes,
                dropout=o.dropout,
                preprocessing=o.spec.preprocessing,
                inference_backbone=o.weights is not None,
            )
            folder = RunFolder(write_dir, config, overwrite=o.overwrite, resume=o.resume)
            if o.weights is None:
                strategy = strategy or preset("several")
                plan, weights_by_class = ["scratch"], None
            else:
                plan = ["head", "finetune"]
            more = {}
            start = 0
            for name in plan:
                starts[_LABELS[name]] = start
                if name in folder.completed:
                    phases[name] = folder.completed[name]["metrics"]
                    start += phases[name]["epochs"]
                    folder.load_phase_end(name, model)
                    if name == "head":
                        strategy, decision, weights_by_class = _head_outcome(phases[name], strategy)
                    continue
                callbacks, progress = folder.callbacks(name, start)
                if name == "scratch":
                    _fast_forward(data, folder.epochs_done())
                    more, phases[name] = train_scratch(
                        model, data, strategy, device, o.patience, callbacks, o.verbose, progress
                    )
                elif name == "head":
                    more, phases[name] = _phase_one(
                        model, base, data, strategy, device, o, callbacks, progress
                    )
                    strategy, decision, weights_by_class = _head_outcome(phases[name], strategy)
                else:
                    if not strategy.fine_tunes:
                        break
                    more, phases[name] = _phase_two(
                        model,
                        base,
                        data,
                        strategy,
                        device,
                        start,
                        o,
                        folder,
                        callbacks,
                        progress,
                        clock,
                        weights_by_class,
                    )
                    if phases[name] is None:  # no epoch fits in the budget
                        del phases[name]
                        more = folder.completed["head"]["history"]
                        break
                    if o.snapshots is not None:
                        phases[name]["ensemble"] = folder.export_ensemble(
                            data.class_names, data.val
                        )
                if name != plan[-1]:
                    folder.complete_phase(name, model, more, phases[name])
                start += phases[name]["epochs"]
            history = folder.history(more if list(phases)[-1] not in folder.completed else {})
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    training_seconds = clock.elapsed()

    matrix = confusion_matrix(model, data.val, n_classes)
    last = list(phases)[-1]
    test, test_name = (data.test, "test") if data.test is not None else (data.val, "val")
    probs, labels = predict_split(model, test)
    report = classification_report(probs, labels, data.class_names, label_smoothing=0.0)
    worst = top_losses(probs, labels, test)
    with_tta = None
    if o.tta is not None:
        tta_probs, _ = predict_split(model, test, o.tta)
        with_tta = classification_report(tta_probs, labels, data.class_names)
    metrics = {
        "backbone": o.backbone_name,
        "source": data.source,
        "image_size": list(data.image_size),
        "n_train": data.n_train,
        "n_val": data.n_val,
        "n_test": data.n_test,
        "test_split": test_name,
        "strategy": dataclasses.asdict(strategy),
        "auto": decision,
        "average": o.average,
        "snapshots": o.snapshots,
        "label_smoothing": o.label_smoothing,
        "class_weight": weights_by_class,
        "time_budget_minutes": o.time_budget,
        "training_seconds": round(training_seconds, 2),
        "phases": phases,
        "val_accuracy": phases[last]["val_accuracy"],
        "val_loss": phases[last]["val_loss"],
        "confusion_matrix": matrix,
        "test_accuracy": report["accuracy"],
        "test_loss": report["loss"],
        "test": report,
        "tta": None if with_tta is None else {"mode": o.tta, **with_tta},
        "history": history,
    }
    title = f"{o.backbone_name} on {Path(data.source).name or data.source}"
    folder.publish(model, metrics, data.class_names, matrix, starts, title, worst)
    return FineTuneResult(model, base, run_dir, metrics)


def _head_outcome(metrics, strategy):
    """(strategy, decision, class weights) of a finished phase 1 (its metrics record them)."""
    decision = metrics.get("auto")
    if decision is not None:
        strategy = FineTuneStrategy(**decision["strategy"])
    weights = metrics.get("class_weight")
    weights = None if weights is None else {int(k): v for k, v in weights.items()}
    return strategy, decision, weights


def _phase_one(model, base, data, strategy, device, o, callbacks, progress):
    """Phase 1 on cached features, then the automatic decision; returns (history, metrics)."""
    freeze(base)
    verbose = o.verbose
    print("Caching the frozen backbone's features (one pass over train and val):", flush=True)
    extractor = feature_extractor(model)
    x_train, y_train, train_seconds = cache_features(
        extractor, data.train_eval or data.train, verbose
    )
    x_val, y_val, val_seconds = cache_features(extractor, data.val, verbose)
    if o.class_weight == "auto" or o.class_weight == "balanced" or o.class_weight is None:
        weights_by_class = class_weights(y_train, len(data.class_names), o.class_weight)
    else:
        weights_by_class = dict(o.class_weight)
    rate = o.head_learning_rate
    if rate is None:
        rate = (strategy or preset("top")).head_learning_rate
    found = None
    if rate == "find":
        probe = head_model(x_train.shape[1], len(data.class_names), o.dropout)
        probe.compile(
            optimizer=keras.optimizers.Adam(1e-5), loss=classifier_loss(o.label_smoothing)
        )
        suggestion, _, _ = lr_range_test(
            probe, x_train, y_train, steps=100, min_lr=1e-5, max_lr=1.0, batch_size=HEAD_BATCH
        )
        rate = found = float(np.clip(suggestion or 1e-3, *HEAD_LR_RANGE))
    if strategy is not None:
        epochs, patience = strategy.epochs_head, o.patience
    elif "epochs_head" in o.overrides:
        epochs, patience = o.overrides["epochs_head"], o.patience
    else:
        epochs, patience = HEAD_EPOCHS, HEAD_PATIENCE
    history, metrics = train_head_on_features(
        model,
        (x_train, y_train),
        (x_val, y_val),
        rate,
        epochs=epochs,
        patience=patience,
        batch_size=HEAD_BATCH,
        class_weight=weights_by_class,
        label_smoothing=o.label_smoothing,
        verbose=verbose,
        callbacks=callbacks,
        progress=progress,
    )
    cached = len(x_train) + len(x_val)
    metrics.update(
        {
            "cache_seconds": round(train_seconds + val_seconds, 2),
            "cache_images_per_second": round(cached / (train_seconds + val_seconds), 2),
            "val_pass_seconds": round(val_seconds, 3),
            "learning_rate_found": found,
            "class_weight": weights_by_class,
            "device": device.description,
            "mixed_precision": device.mixed_precision,
            "xla": device.jit_compile,
        }
    )
    if strategy is None:
        stats = image_statistics(data.train_eval or data.train)
        chosen = decide(
            metrics["train_accuracy"],
            metrics["val_accuracy"],
            len(data.class_names),
            data.n_train,
            stats,
            **{"epochs_head": metrics["epochs"], **o.overrides},
        )
        if not chosen.strategy.fine_tunes and (o.average or o.snapshots):
            chosen = dataclasses.replace(
                chosen,
                strategy=preset("top", **{"epochs_head": metrics["epochs"], **o.overrides}),
                reasons=[*chosen.reasons, "phase 2 asked for (average or snapshots): top"],
            )
        print(chosen.summary(), flush=True)
        metrics["auto"] = {
            "strategy": dataclasses.asdict(chosen.strategy),
            "measurements": chosen.measurements,
            "reasons": chosen.reasons,
        }
    return history, metrics


def _phase_two(
    model,
    base,
    data,
    strategy,
    device,
    start,
    o,
    folder,
    callbacks,
    progress,
    clock,
    weights_by_class,
):
    """Phase 2 with its LR range test and its plan under the time budget; returns (history,
    metrics), or (None, None) when not one epoch fits in the budget."""
    steps_per_epoch = math.ceil(data.n_train / data.batch_size)
    val_seconds = folder.completed["head"]["metrics"].get("val_pass_seconds", 0.0)
    saved = folder.note("finetune_plan")
    if saved is None:
        unfreeze_fraction(base, strategy.unfreeze_fraction)
        rate = o.finetune_learning_rate
        if rate is None:
            rate = strategy.finetune_learning_rate
        sweep = rate == "find"
        model.compile(
            optimizer=keras.optimizers.Adam(1e-7),
            loss=classifier_loss(o.label_smoothing),
            jit_compile=device.jit_compile,
        )
        suggestion, step_seconds, finder = lr_range_test(
            model,
            data.sweep or data.train,
            steps=FINETUNE_SWEEP_STEPS if sweep else 3,
            min_lr=1e-7,
            max_lr=1e-1,
        )
        found = float(np.clip(suggestion or 1e-4, *FINETUNE_LR_RANGE)) if sweep else None
        trace_seconds = max(0.0, finder.first_step_seconds - step_seconds)
        most = finetune_epochs(strategy, o.snapshots)
        if most != strategy.epochs_finetune:
            print(
                f"Phase 2: {strategy.epochs_finetune} epochs rounded up to {most}, a multiple of snapshots={o.snapshots}."
            )
        epochs = plan_epochs(
            most,
            clock.remaining() - 2 * trace_seconds,  # phase 2 traces its training and test steps
            step_seconds,
            steps_per_epoch,
            val_seconds,
        )
        saved = {
            "trace_seconds": round(trace_seconds, 3),
            "learning_rate": found if sweep else rate,
            "learning_rate_found": found,
            "epochs": epochs,
            "step_seconds": round(step_seconds, 4),
        }
        folder.remember("finetune_plan", saved)
    _fast_forward(data, progress.epochs_done)
    print(
        f"Phase 2 plan: {saved['epochs']} epochs at learning rate {saved['learning_rate']:.3g} "
        f"({saved['step_seconds']:.3f} s/step measured; "
        + ("no time budget)" if clock.budget is None else f"{clock.remaining():.0f} s left)"),
        flush=True,
    )
    if saved["epochs"] < 1:
        return {}, None
    planned = dataclasses.replace(strategy, finetune_learning_rate=saved["learning_rate"])
    history, metrics, _ = train_finetune(
        model,
        base,
        data,
        planned,
        device,
        start,
        o.patience,
        [*callbacks, *o.finetune_callbacks],
        o.verbose,
        average=o.average,
        snapshots=o.snapshots,
        snapshot_dir=folder.snapshot_dir(),
        progress=progress,
        epochs=saved["epochs"],
        class_weight=weights_by_class,
        label_smoothing=o.label_smoothing,
        clock=clock if clock.budget is not None else None,
        val_seconds=val_seconds,
        trace_seconds=saved["trace_seconds"],
    )
    metrics.update({k: saved[k] for k in ("learning_rate", "learning_rate_found", "step_seconds")})
    return history, metrics
