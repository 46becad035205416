"""The phases of a fine-tuning run as objects: each one `run`s, or `restore`s its outcome from a
completed run folder when a run resumes.

Source: fastai's `Learner.fine_tune` (a frozen phase, then an unfrozen one) and Keras'
transfer-learning guide; `plan` yields the phases of a run, the head phase deciding whether a
fine-tuning phase follows. The training itself is in `kerasopt.transfer.head`,
`kerasopt.transfer.finetuning` and `kerasopt.transfer.scratch`; files come in from
`kerasopt.transfer.run_folder` (the `folder` of the state) as callbacks and a progress object.
"""

import dataclasses
import math

import keras
import numpy as np

from kerasopt.transfer.auto import class_weights, decide
from kerasopt.transfer.budget import plan_steps
from kerasopt.transfer.cached_top import (
    MAX_CACHE_BYTES,
    SeesClassifier,
    cache_activations,
    cached_bytes,
    split_classifier,
)
from kerasopt.transfer.features import (
    cache_features,
    feature_extractor,
    fit_verbosity,
    head_model,
    image_statistics,
)
from kerasopt.transfer.finetuning import finetune_epochs, train_finetune
from kerasopt.transfer.freezing import freeze, unfreeze_fraction
from kerasopt.transfer.head import train_head_on_features
from kerasopt.transfer.losses import classifier_loss
from kerasopt.transfer.lr_range import StepTimer, lr_range_test
from kerasopt.transfer.scratch import train_scratch
from kerasopt.transfer.strategy import FineTuneStrategy, preset

# Defaults chosen by measurement (docs/guides/transfer.md, "Defaults chosen by measurement").
HEAD_EPOCHS = 10  # phase 1 on cached features, automatic plan: one cycle of this many epochs
HEAD_PATIENCE = 10  # ... the best epoch's weights kept (no early stop inside the cycle)
HEAD_BATCH = 32  # phase 1's batch size on cached features
HEAD_LR_RANGE = (1e-4, 1e-2)  # the range test's suggestion is clipped to these rates
FINETUNE_LR_RANGE = (1e-5, 1e-3)
FINETUNE_SWEEP_STEPS = 40
FINETUNE_LR = 1e-3  # phase 2's default peak rate of the top ("auto"), fastai's base rate / 2
# Kept back from phase 2 for saving, exporting and plotting (`export_seconds`): a fixed part and
# a multiple of the backbone's measured first-call tracing time (publishing is mostly tracing).
EXPORT_FIXED_SECONDS = 10.0
EXPORT_TRACES = 4.0


@dataclasses.dataclass
class RunState:
    """What the phases of one run share: the options, the data, the model, the device, the run
    folder, the clock, and what the finished phases decided (plan, class weights)."""

    config: object
    data: object
    model: keras.Model
    base: keras.Model
    device: object
    folder: object
    clock: object
    strategy: FineTuneStrategy | None = None
    decision: dict | None = None
    class_weight: dict | None = None
    start: int = 0  # epochs of the phases before the current one
    metrics: dict = dataclasses.field(default_factory=dict)  # by phase name
    starts: dict = dataclasses.field(default_factory=dict)  # first epoch, by phase label
    history: dict = dataclasses.field(default_factory=dict)  # the last phase's, if unsaved
    finetune_callbacks: tuple = ()  # extra Keras callbacks for phase 2
    # (probabilities, labels) of the validation split by phase, where a phase has them without
    # another pass over the images (the head phase, from its cached features)
    val_predictions: dict = dataclasses.field(default_factory=dict)


def fast_forward(data, epochs):
    """Draw `epochs` epochs of `data.train` as `fit` does, on a model with nothing to learn: a
    resumed run then gets the shuffles and augmentations that the uninterrupted run got after
    that many epochs (the pipeline's seeds advance with each iterator `fit` creates)."""
    if epochs == 0:
        return
    images = keras.Input(shape=(*data.image_size, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(images)
    dummy = keras.Model(images, keras.layers.Dense(1, kernel_initializer="zeros")(pooled))
    dummy.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    dummy.fit(data.train, epochs=epochs, verbose=0, shuffle=False)


class ScratchPhase:
    """The random-initialization baseline (`train_scratch`): every layer from the start."""

    name, label, final = "scratch", "scratch", True

    def run(self, state):
        callbacks, progress = state.folder.callbacks(self.name, state.start)
        fast_forward(state.data, state.folder.epochs_done())
        c = state.config
        return train_scratch(
            state.model,
            state.data,
            state.strategy,
            state.device,
            c.patience,
            callbacks,
            fit_verbosity(c.verbose),
            progress,
        )

    def restore(self, state, metrics):
        """Nothing to restore: the scratch phase is the whole run."""


class HeadPhase:
    """Phase 1 on cached features (`train_head_on_features`), then the automatic plan."""

    name, label, final = "head", "head", False

    def run(self, state):
        c, data, model = state.config, state.data, state.model
        callbacks, progress = state.folder.callbacks(self.name, state.start)
        freeze(state.base)
        print("Caching the frozen backbone's features (one pass over train and val):", flush=True)
        extractor = feature_extractor(model)
        timer = StepTimer()  # its first step traces the backbone: the export's cost scales with it
        x_train, y_train, train_seconds = cache_features(
            extractor, data.train_eval or data.train, c.verbose, callbacks=[timer]
        )
        x_val, y_val, val_seconds = cache_features(extractor, data.val, c.verbose)
        if isinstance(c.class_weight, dict):
            weights = dict(c.class_weight)
        else:
            weights = class_weights(y_train, len(data.class_names), c.class_weight)
        rate, found = self._rate(state, x_train, y_train)
        epochs, patience = self._epochs(state)
        history, metrics = train_head_on_features(
            model,
            (x_train, y_train),
            (x_val, y_val),
            rate,
            epochs=epochs,
            patience=patience,
            batch_size=HEAD_BATCH,
            class_weight=weights,
            label_smoothing=c.label_smoothing,
            verbose=fit_verbosity(c.verbose),
            callbacks=callbacks,
            progress=progress,
        )
        val_probs = keras.ops.convert_to_numpy(model.get_layer("head")(x_val))
        state.val_predictions[self.name] = (val_probs, y_val)
        cached = len(x_train) + len(x_val)
        metrics.update(
            {
                "cache_seconds": round(train_seconds + val_seconds, 2),
                "cache_images_per_second": round(cached / (train_seconds + val_seconds), 2),
                "val_pass_seconds": round(val_seconds, 3),
                "trace_seconds": round(timer.trace_seconds(), 3),
                "learning_rate_found": found,
                "class_weight": weights,
                "device": state.device.description,
                "mixed_precision": state.device.mixed_precision,
                "xla": state.device.jit_compile,
            }
        )
        if state.strategy is None:
            metrics["auto"] = self._decide(state, metrics)
        self.restore(state, metrics)
        return history, metrics

    def restore(self, state, metrics):
        """The plan and class weights that the finished phase recorded in its metrics."""
        if metrics.get("auto") is not None:
            state.decision = metrics["auto"]
            state.strategy = FineTuneStrategy(**state.decision["strategy"])
        weights = metrics.get("class_weight")
        state.class_weight = None if weights is None else {int(k): v for k, v in weights.items()}

    @staticmethod
    def _rate(state, x_train, y_train):
        """(rate, rate found by the LR range test on the cached features, or None)."""
        c = state.config
        rate = c.head_learning_rate
        if rate is None:
            rate = (state.strategy or preset("top")).head_learning_rate
        if rate != "find":
            return rate, None
        probe = head_model(x_train.shape[1], len(state.data.class_names), c.dropout)
        probe.compile(
            optimizer=keras.optimizers.Adam(1e-5), loss=classifier_loss(c.label_smoothing)
        )
        suggestion, _, _ = lr_range_test(
            probe, x_train, y_train, steps=100, min_lr=1e-5, max_lr=1.0, batch_size=HEAD_BATCH
        )
        found = float(np.clip(suggestion or 1e-3, *HEAD_LR_RANGE))
        return found, found

    @staticmethod
    def _epochs(state):
        """(epochs, patience): the plan's, an override's, or the automatic plan's one cycle."""
        c = state.config
        if state.strategy is not None:
            return state.strategy.epochs_head, c.patience
        if "epochs_head" in c.overrides:
            return c.overrides["epochs_head"], c.patience
        return HEAD_EPOCHS, HEAD_PATIENCE

    @staticmethod
    def _decide(state, metrics):
        """The automatic plan (`decide`) from the probe's accuracies and the images, printed."""
        c, data = state.config, state.data
        fixed = {"epochs_head": metrics["epochs"], **c.overrides}
        chosen = decide(
            metrics["train_accuracy"],
            metrics["val_accuracy"],
            len(data.class_names),
            data.n_train,
            image_statistics(data.train_eval or data.train),
            **fixed,
        )
        if not chosen.strategy.fine_tunes and (c.average or c.snapshots):
            chosen = dataclasses.replace(
                chosen,
                strategy=preset("top", **fixed),
                reasons=[*chosen.reasons, "phase 2 asked for (average or snapshots): top"],
            )
        print(chosen.summary(), flush=True)
        return {
            "strategy": dataclasses.asdict(chosen.strategy),
            "measurements": chosen.measurements,
            "reasons": chosen.reasons,
        }


class FinetunePhase:
    """Phase 2 (`train_finetune`): its rate and its epochs planned under the time budget
    (the plan is remembered in the run folder, so a resumed run keeps it)."""

    name, label, final = "finetune", "fine-tune", True

    def run(self, state):
        """(history, metrics), or ({}, None) when not one epoch fits in the budget."""
        c, data, folder = state.config, state.data, state.folder
        callbacks, progress = folder.callbacks(self.name, state.start)
        val_seconds = state.metrics["head"].get("val_pass_seconds", 0.0)
        unfreeze_fraction(state.base, state.strategy.unfreeze_fraction)
        cached = self._cache(state)
        saved = folder.note("finetune_plan")
        if saved is None:
            saved = self._plan(state, val_seconds, cached)
            folder.remember("finetune_plan", saved)
        user_callbacks = list(state.finetune_callbacks)
        if cached is None:
            fast_forward(data, progress.epochs_done)
        else:  # the top trains; the user's callbacks and the checkpoint see the classifier
            user_callbacks = [SeesClassifier(cb, state.model) for cb in user_callbacks]
            progress.checkpoint_model = state.model
        steps = f" ({saved['steps']} steps)" if saved.get("steps") else ""
        print(
            f"Phase 2 plan: {saved['epochs']} epochs{steps} at learning rate {saved['learning_rate']:.3g} "
            f"({saved['step_seconds']:.3f} s/step measured; "
            + (
                "no time budget)"
                if state.clock.budget is None
                else f"{state.clock.remaining():.0f} s left)"
            ),
            flush=True,
        )
        if saved["epochs"] < 1:
            return {}, None
        planned = dataclasses.replace(state.strategy, finetune_learning_rate=saved["learning_rate"])
        history, metrics, _ = train_finetune(
            state.model,
            state.base,
            data,
            planned,
            state.device,
            state.start,
            c.patience,
            [*callbacks, *user_callbacks],
            fit_verbosity(c.verbose),
            average=c.average,
            snapshots=c.snapshots,
            snapshot_dir=folder.snapshot_dir(),
            progress=progress,
            epochs=saved["epochs"],
            steps=saved.get("steps"),
            class_weight=state.class_weight,
            label_smoothing=c.label_smoothing,
            clock=state.clock if state.clock.budget is not None else None,
            val_seconds=saved.get("epoch_val_seconds", val_seconds),
            trace_seconds=saved["trace_seconds"],
            reserve_seconds=_finish_seconds(state, val_seconds),
            cached=cached,
        )
        metrics.update(
            {k: saved[k] for k in ("learning_rate", "learning_rate_found", "step_seconds")}
        )
        metrics["cached_activations"] = None
        if cached is not None:
            metrics["cached_activations"] = {
                "cut": cached.split.cut,
                "views": len(cached.views),
                "megabytes": round(
                    cached_bytes(cached.split, cached.n_train) * len(cached.views) / 2**20, 1
                ),
                "seconds": round(cached.seconds, 2),
            }
        if c.snapshots is not None:
            metrics["ensemble"] = folder.export_ensemble(data.class_names, data.val)
        return history, metrics

    def restore(self, state, metrics):
        """Nothing to restore: phase 2 is the last phase (a finished run is published)."""

    @staticmethod
    def _cache(state):
        """The `CachedActivations` phase 2 trains on (`kerasopt.transfer.cached_top`), or None
        (the option is off, snapshots, several replicas, no frozen bottom to cache, or more
        than `MAX_CACHE_BYTES`); the choice is printed. The backbone is unfrozen already."""
        c, data = state.config, state.data
        usable = (
            c.cached_activations
            and c.snapshots is None
            and data.train_eval is not None
            and keras.backend.backend() == "tensorflow"
            and getattr(state.device.distribution, "num_replicas_in_sync", 1) == 1
        )
        split = split_classifier(state.model, state.base) if usable else None
        if split is None:
            return None
        size = cached_bytes(split, c.cache_views * data.n_train + data.n_val)
        if size > MAX_CACHE_BYTES:
            print(
                f"Phase 2 on the images: the activations below {split.cut} would take "
                f"{size / 2**20:.0f} MB (more than {MAX_CACHE_BYTES / 2**20:.0f} MB).",
                flush=True,
            )
            return None
        cached = cache_activations(split, data, c.cache_views, state.class_weight)
        print(
            f"Phase 2 on cached activations below {split.cut} ({size / 2**20:.0f} MB, "
            f"{c.cache_views} view(s), cached in {cached.seconds:.1f} s).",
            flush=True,
        )
        return cached

    @staticmethod
    def _plan(state, val_seconds, cached=None):
        """Phase 2's rate (the range test's, `FINETUNE_LR` or the given one) and its epochs
        (as many as the clock allows, from the measured step time: of the top on `cached`
        activations when given, whose validation pass then replaces `val_seconds` per epoch)."""
        c, data, strategy = state.config, state.data, state.strategy
        rate = c.finetune_learning_rate
        if rate is None:
            rate = strategy.finetune_learning_rate
        elif rate == "auto":
            rate = FINETUNE_LR
        sweep = rate == "find"
        trained = state.model if cached is None else cached.split.top
        trained.compile(
            optimizer=keras.optimizers.Adam(1e-7),
            loss=classifier_loss(c.label_smoothing),
            jit_compile=state.device.jit_compile,
        )
        steps = FINETUNE_SWEEP_STEPS if sweep else 3
        if cached is None:
            sweep_data = (data.sweep or data.train,)
        else:
            sweep_data = (cached.views[-1], cached.labels)
        suggestion, step_seconds, finder = lr_range_test(
            trained,
            *sweep_data,
            steps=steps,
            min_lr=1e-7,
            max_lr=1e-1,
            batch_size=None if cached is None else data.batch_size,
        )
        steps_per_epoch = math.ceil(data.n_train / data.batch_size)
        epoch_val_seconds = val_seconds
        if cached is not None:  # a forward pass costs about a third of a training step
            epoch_val_seconds = step_seconds / 3 * math.ceil(data.n_val / data.batch_size)
        found = float(np.clip(suggestion or 1e-4, *FINETUNE_LR_RANGE)) if sweep else None
        trace_seconds = max(0.0, finder.first_step_seconds - step_seconds)
        most = finetune_epochs(strategy, c.snapshots)
        if most != strategy.epochs_finetune:
            print(
                f"Phase 2: {strategy.epochs_finetune} epochs rounded up to {most}, a multiple of snapshots={c.snapshots}."
            )
        planned = plan_steps(
            most,
            # phase 2 traces its training and test steps; evaluation and export follow it
            state.clock.remaining() - 2 * trace_seconds - _finish_seconds(state, val_seconds),
            step_seconds,
            steps_per_epoch,
            epoch_val_seconds,
        )
        return {
            "trace_seconds": round(trace_seconds, 3),
            "learning_rate": found if sweep else rate,
            "learning_rate_found": found,
            "epochs": planned.epochs,
            "steps": planned.steps,  # `train_finetune` ignores it with snapshots (whole cycles)
            "step_seconds": round(step_seconds, 4),
            "epoch_val_seconds": round(epoch_val_seconds, 3),
        }


def _finish_seconds(state, val_seconds):
    """The expected time after training: the confusion matrix on val, the test pass (scaled from
    the measured validation pass) and publishing the run folder (`export_seconds`)."""
    data = state.data
    test_share = (data.n_test or data.n_val) / max(data.n_val, 1)
    trace = state.metrics["head"].get("trace_seconds", 0.0)
    return val_seconds * (1.0 + test_share) + export_seconds(trace)


def export_seconds(trace_seconds):
    """The time kept back for publishing the run folder (model.keras, the SavedModel, the
    plots): `EXPORT_FIXED_SECONDS` plus `EXPORT_TRACES` times the measured extra time of the
    backbone's first traced call (`trace_seconds`): exporting a SavedModel traces the model
    again, and on a busy machine both take longer together."""
    return EXPORT_FIXED_SECONDS + EXPORT_TRACES * trace_seconds


def keep_the_better_phase(state):
    """The checkpoint chosen on validation between the phases: phase 2's end weights when its
    validation loss is at most the head phase's, else the head phase's end weights, put back
    into the model (phase 2 then made the model worse on held-out images, as a whole-backbone
    fine-tune can on a small, unusual set). Returns the kept phase's name (the last phase that
    ran when there is no choice: one phase, or an explicit phase-2 product, `average`'s
    averaged weights or `snapshots`' exported ensemble, which is what was asked for); a change
    of weights is printed.

    Source: model selection on a validation set (early stopping's best checkpoint carried
    across the phases; Prechelt, "Early Stopping - But When?", 1998).
    """
    ran = list(state.metrics)
    config = state.config
    if not {"head", "finetune"} <= set(ran) or (config.average, config.snapshots) != (None, None):
        return ran[-1]
    head, finetune = state.metrics["head"]["val_loss"], state.metrics["finetune"]["val_loss"]
    if finetune <= head:
        return "finetune"
    state.folder.load_phase_end("head", state.model)
    print(
        f"Kept the head phase's weights: phase 2 ended at validation loss {finetune:.4f}, "
        f"above the head phase's {head:.4f}.",
        flush=True,
    )
    return "head"


def plan(state):
    """The phases of the run, lazily: the scratch baseline alone (no pretrained weights), or the
    head phase followed by phase 2 when the plan (fixed, or decided by the head phase) trains
    anything in it."""
    if state.config.weights is None:
        yield ScratchPhase()
        return
    yield HeadPhase()
    if state.strategy.fine_tunes:
        yield FinetunePhase()
