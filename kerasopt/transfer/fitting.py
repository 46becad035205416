"""Training a phase with resumable state: the phase timer and the fit-with-resume block.

Source: Keras' `fit` with `initial_epoch` (resuming from a checkpointed epoch); the state that
goes over an interruption (weights, optimizer, callbacks) is saved by
`kerasopt.transfer.run_folder`, which comes in as a `progress` callback. No file I/O.
"""

import time

import keras
import numpy as np


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

    `data` is an `ImageData`, or any object with `train`, `val` and `n_train` (e.g.
    `kerasopt.transfer.cached_top.CachedActivations`, whose `train` is a function of the phase's
    epoch giving the batches from that epoch on, with `steps_per_epoch`).
    EarlyStopping on val_loss restores the best weights (none when `patience` is None).
    `progress` (optional, from `kerasopt.transfer.run_folder`) resumes the phase: it loads the
    weights, optimizer and callback state of the last completed epoch, `fit` goes on from
    there, and its history starts with the earlier epochs. Returns (history dict, metrics).
    """
    timer = PhaseTimer(data.n_train)
    steps_per_epoch = getattr(data, "steps_per_epoch", None)
    stopper = (
        None
        if patience is None
        else keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience, restore_best_weights=True
        )
    )

    def fit(done, all_callbacks):
        # `data.train`: a dataset, or (cached activations) a function of the phase's epoch
        # that gives the batches of that epoch and the ones after it
        train = data.train(done) if callable(data.train) else data.train
        return model.fit(
            train,
            steps_per_epoch=steps_per_epoch,
            validation_data=data.val,
            epochs=initial_epoch + epochs,
            initial_epoch=initial_epoch + done,
            callbacks=all_callbacks,
            verbose=verbose,
            class_weight=class_weight,
            shuffle=False,  # the dataset shuffles itself
        )

    history = resumable_fit(model, fit, epochs, timer, stopper, callbacks, progress)
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


def resumable_fit(model, fit, epochs, timer, stopper, callbacks=(), progress=None):
    """Run `fit(done, callbacks)` (a `model.fit` from epoch `done` of the phase) unless the phase
    already ran its `epochs` or stopped early; returns the phase's history.

    `progress` (optional, from `kerasopt.transfer.run_folder`) resumes the phase: it tracks
    `model`, `timer` and `stopper` (an `EarlyStopping` or None), loads the weights, optimizer
    and callback state of the last completed epoch, and its history starts with the earlier
    epochs. A phase that had already ended gets the stopper's best weights back, as
    EarlyStopping does at the end of a fit.
    """
    all_callbacks = [timer, *([stopper] if stopper else []), *callbacks]
    done, stopped = 0, False
    if progress is not None:
        progress.track(model, timer, stopper)
        all_callbacks.append(progress)
        done, stopped = progress.epochs_done, progress.stopped
    history = {}
    if done < epochs and not stopped:
        history = fit(done, all_callbacks).history
    elif stopper is not None and stopper.best_weights is not None:
        model.set_weights(stopper.best_weights)
    if progress is not None:
        history = progress.history
    return history


def epoch_batches(views, labels, batch_size, first_epoch, epochs, sample_weight=None):
    """The batches of epochs `first_epoch` .. `epochs - 1` over arrays held in memory.

    Every epoch has a fresh order, seeded by the epoch's index: the ragged last batch holds
    different examples each epoch (a fixed order gives the same few examples the weight of a
    full batch in every Adam step), and a resumed phase sees the batches an uninterrupted one
    would. With several `views` (e.g. augmented copies of each image) each example is drawn
    from one view per epoch, chosen by the same seeded generator.

    Args:
        views: a list of arrays with the same first dimension n (one array: no choice).
        labels: array (n,).
        batch_size: examples per batch.
        first_epoch: the first epoch to yield (0-based, counted within the phase).
        epochs: the phase's epochs.
        sample_weight: None or array (n,), yielded as the batches' third element.

    Example:
        >>> import numpy as np
        >>> from kerasopt.transfer.fitting import epoch_batches
        >>> x = np.arange(5)
        >>> [b[1].tolist() for b in epoch_batches([x], x, 2, 0, 1)] == [
        ...     np.random.default_rng(0).permutation(5)[i : i + 2].tolist() for i in (0, 2, 4)]
        True
    """
    n = len(labels)
    for epoch in range(first_epoch, epochs):
        rng = np.random.default_rng(epoch)
        order = rng.permutation(n)
        chosen = rng.integers(len(views), size=n) if len(views) > 1 else None
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            if chosen is None:
                x = views[0][index]
            else:
                x = np.stack([views[v][i] for v, i in zip(chosen[index], index, strict=True)])
            if sample_weight is None:
                yield x, labels[index]
            else:
                yield x, labels[index], sample_weight[index]
