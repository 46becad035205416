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
from kerasopt._validation import check_bool, check_int
from kerasopt.transfer.backbones import backbone, get_spec
from kerasopt.transfer.classifier import build_classifier
from kerasopt.transfer.device import configure_device
from kerasopt.transfer.phases import (
    check_phase2_options,
    confusion_matrix,
    train_finetune,
    train_head,
    train_scratch,
)
from kerasopt.transfer.run_folder import RunFolder, check_run_dir
from kerasopt.transfer.strategy import FineTuneStrategy, choose_strategy

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
    overwrite=False,
    resume=False,
):
    """Run both phases on `data` (an `ImageData`) and publish `run_dir`; return a `FineTuneResult`.

    With `weights=None` there is nothing to transfer: the same architecture is trained from
    random initialization instead (`train_scratch`, one phase "scratch", same epoch budget),
    the baseline of the transfer-learning comparison.

    Args:
        data: `kerasopt.transfer.image_dataset(...)` output.
        run_dir: the run folder. It is written as `run_dir.partial/` and renamed to `run_dir`
            when complete (see `kerasopt.transfer.run_folder`); the resume state lives in
            `run_dir.resume/` meanwhile.
        backbone_name: a key of `kerasopt.transfer.BACKBONES`.
        strategy: a `FineTuneStrategy`; None: `choose_strategy(similarity, data.n_train)`.
        similarity: "similar" or "different" (to ImageNet), used when `strategy` is None.
        weights: passed to `kerasopt.transfer.backbone`: "imagenet", None (random
            initialization: the scratch baseline) or a weights file.
        alpha: passed to `kerasopt.transfer.backbone` (MobileNet width multiplier).
        dropout: dropout rate before the head.
        mixed_precision: "auto", True or False (see `configure_device`).
        xla: "auto", True or False (see `configure_device`).
        distribute: "auto", True or False (see `configure_device`).
        patience: EarlyStopping patience (epochs without a lower val_loss).
        finetune_callbacks: extra Keras callbacks for phase 2.
        verbose: Keras `fit` verbosity.
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
        >>> os.path.exists(run)  # nothing was written
        False
    """
    if strategy is None:
        strategy = choose_strategy(similarity, data.n_train)
    if not isinstance(strategy, FineTuneStrategy):
        raise TypeError(
            f"Argument `strategy` must be a FineTuneStrategy or None. Received: strategy={strategy!r}"
        )
    check_int("patience", patience, minimum=1)
    check_phase2_options(average, snapshots)
    check_bool("overwrite", overwrite)
    check_bool("resume", resume)
    if (average is not None or snapshots is not None) and (
        weights is None or not strategy.fine_tunes
    ):
        raise ValueError(
            "Arguments `average` and `snapshots` act on phase 2 (fine-tuning), which this run does not have "
            f"(weights=None, or a strategy with no unfrozen layers or no fine-tuning epochs). Received: "
            f"average={average!r}, snapshots={snapshots!r}, weights={weights!r}, strategy={strategy.name!r}"
        )
    if weights is not None and strategy.epochs_head < 1:
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
    try:
        return _fine_tune(
            data,
            run_dir,
            private / run_dir.name if private else run_dir,
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
            finetune_callbacks,
            verbose,
            average,
            snapshots,
            overwrite,
            resume,
        )
    finally:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)


def _fine_tune(
    data,
    run_dir,
    write_dir,
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
    finetune_callbacks,
    verbose,
    average,
    snapshots,
    overwrite,
    resume,
):
    """`fine_tune` after its checks; everything is written under `write_dir` (`run_dir` on the
    chief, a private temporary folder on the other workers)."""
    check_run_dir(write_dir, overwrite, resume)
    config = {
        "backbone": backbone_name,
        "strategy": dataclasses.asdict(strategy),
        "weights": weights,
        "alpha": alpha,
        "dropout": dropout,
        "patience": patience,
        "average": average,
        "snapshots": snapshots,
        "source": data.source,
        "class_names": list(data.class_names),
        "n_train": data.n_train,
        "n_val": data.n_val,
        "image_size": list(data.image_size),
        "batch_size": data.batch_size,
    }
    plan = (
        ["scratch"] if weights is None else ["head", *(["finetune"] if strategy.fine_tunes else [])]
    )

    previous_policy = keras.mixed_precision.global_policy()
    device = configure_device(mixed_precision, xla, distribute)
    phases, starts, history = {}, {}, {}
    try:
        with device.distribution.scope():
            base = backbone(
                backbone_name, weights=weights, input_shape=(*data.image_size, 3), alpha=alpha
            )
            model = build_classifier(
                base,
                len(data.class_names),
                dropout=dropout,
                preprocessing=spec.preprocessing,
                inference_backbone=weights is not None,
            )
            folder = RunFolder(write_dir, config, overwrite=overwrite, resume=resume)
            _fast_forward(data, folder.epochs_done())
            start, last_completed = 0, None
            for name in plan:
                starts[_LABELS[name]] = start
                if name in folder.completed:
                    phases[name] = folder.completed[name]["metrics"]
                    start += phases[name]["epochs"]
                    last_completed = name
                    continue
                if last_completed is not None:
                    folder.load_phase_end(last_completed, model)
                    last_completed = None
                callbacks, progress = folder.callbacks(name, start)
                if name == "scratch":
                    more, phases[name] = train_scratch(
                        model, data, strategy, device, patience, callbacks, verbose, progress
                    )
                elif name == "head":
                    more, phases[name] = train_head(
                        model, base, data, strategy, device, patience, callbacks, verbose, progress
                    )
                else:
                    more, phases[name], _ = train_finetune(
                        model,
                        base,
                        data,
                        strategy,
                        device,
                        start,
                        patience,
                        [*callbacks, *finetune_callbacks],
                        verbose,
                        average=average,
                        snapshots=snapshots,
                        snapshot_dir=folder.snapshot_dir(),
                        progress=progress,
                    )
                    if snapshots is not None:
                        phases[name]["ensemble"] = folder.export_ensemble(
                            data.class_names, data.val
                        )
                if name != plan[-1]:
                    folder.complete_phase(name, model, more, phases[name])
                start += phases[name]["epochs"]
            history = folder.history(more)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)

    matrix = confusion_matrix(model, data.val, len(data.class_names))
    final = phases[plan[-1]]
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
    title = f"{backbone_name} on {Path(data.source).name or data.source}"
    folder.publish(model, metrics, data.class_names, matrix, starts, title)
    return FineTuneResult(model, base, run_dir, metrics)
