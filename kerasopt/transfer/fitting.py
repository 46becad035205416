"""Training a phase with resumable state: the phase timer and the fit-with-resume block.

Source: Keras' `fit` with `initial_epoch` (resuming from a checkpointed epoch); the state that
goes over an interruption (weights, optimizer, callbacks) is saved by
`kerasopt.transfer.run_folder`, which comes in as a `progress` callback. No file I/O.
"""

import time

import keras


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

    def fit(done, all_callbacks):
        return model.fit(
            data.train,
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
