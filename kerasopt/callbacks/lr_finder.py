"""The learning-rate range test (Smith 2017, sec. 3.3; the "LR finder" of fastai)."""

import math

import keras
import numpy as np

from kerasopt import plotting
from kerasopt._validation import check_int, check_positive, check_range


@keras.saving.register_keras_serializable(package="kerasopt")
class LRFinder(keras.callbacks.Callback):
    """Sweep the learning rate exponentially, record the loss, then put the model back.

    Smith 2017 ("Cyclical Learning Rates for Training Neural Networks", sec. 3.3): train for
    a few hundred steps while the rate grows from `min_lr` to `max_lr`; the loss falls, then
    diverges. Step k (0-based) uses `min_lr * (max_lr / min_lr) ** (k / (steps - 1))`. The
    loss of each step is smoothed by a bias-corrected exponential moving average (weight
    `smoothing`); the sweep stops after `steps` steps, or once the smoothed loss exceeds
    `stop_factor` times its best value or is not finite. At the end of `fit` the model's
    weights, every optimizer variable (slots and iteration count) and the learning rate are
    restored exactly as they were before the sweep.

    The suggestion is one tenth of the rate at which the smoothed loss is lowest (the
    "minimum / 10" rule of fastai, Howard & Gugger 2020), never below `min_lr`: a rate where
    the loss still falls fast, an order of magnitude below where it starts to diverge. (The
    steepest-slope rule was tried and rejected: early in the sweep, batch noise on a flat
    loss gives steeper slopes than the real descent.)

    Use: `model.fit(x, y, epochs=E, callbacks=[finder])` with E large enough to cover
    `steps` batches; the optimizer's learning rate must be a number (not a schedule).
    Metrics are reset before each batch so `logs["loss"]` is that batch's loss.
    Afterwards: `finder.history` (lists `lr`, `loss`, `smoothed_loss`), `finder.suggestion`,
    `finder.plot(path)`.

    Args:
        min_lr: first rate, > 0.
        max_lr: last rate, > min_lr.
        steps: number of steps of the sweep, an integer >= 2.
        smoothing: EMA weight of the loss smoothing, in [0, 1).
        stop_factor: stop when the smoothed loss exceeds `stop_factor` x its minimum, > 1.

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.callbacks import LRFinder
        >>> x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
        >>> y = x.sum(axis=1, keepdims=True)
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        >>> before = [w.copy() for w in model.get_weights()]
        >>> finder = LRFinder(min_lr=1e-4, max_lr=1.0, steps=16)
        >>> _ = model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[finder])
        >>> finder.history["lr"][:2] == [finder.learning_rate(0), finder.learning_rate(1)]
        True
        >>> all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # put back
        True
        >>> 1e-4 <= finder.suggestion <= 1.0
        True

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017, sec. 3.3.
    """

    def __init__(self, min_lr=1e-6, max_lr=1.0, steps=100, smoothing=0.98, stop_factor=4.0):
        super().__init__()
        self.min_lr = check_positive("min_lr", min_lr)
        self.max_lr = check_range("max_lr", max_lr, low=min_lr, low_inclusive=False)
        self.steps = check_int("steps", steps, minimum=2)
        self.smoothing = check_range("smoothing", smoothing, low=0, high=1, high_inclusive=False)
        self.stop_factor = check_range("stop_factor", stop_factor, low=1, low_inclusive=False)
        self.history = {"lr": [], "loss": [], "smoothed_loss": []}
        self.suggestion = None
        self.diverged = False

    def learning_rate(self, k):
        """The rate of sweep step k."""
        return self.min_lr * (self.max_lr / self.min_lr) ** (k / (self.steps - 1))

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        if isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            raise ValueError(
                "LRFinder needs an optimizer whose `learning_rate` is a number, not a schedule. "
                f"Received: learning_rate={optimizer._learning_rate!r}"
            )
        if not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self._saved_weights = [np.array(v.numpy(), copy=True) for v in self.model.weights]
        self._saved_optimizer = [np.array(v.numpy(), copy=True) for v in optimizer.variables]
        self.history = {"lr": [], "loss": [], "smoothed_loss": []}
        self.suggestion = None
        self.diverged = False
        self._average = 0.0
        self._best = math.inf

    def on_train_batch_begin(self, batch, logs=None):
        self.model.reset_metrics()
        self.model.optimizer.learning_rate.assign(self.learning_rate(len(self.history["lr"])))

    def on_train_batch_end(self, batch, logs=None):
        k = len(self.history["lr"])
        loss = float(logs["loss"])
        self._average = self.smoothing * self._average + (1.0 - self.smoothing) * loss
        smoothed = self._average / (1.0 - self.smoothing ** (k + 1))
        self.history["lr"].append(self.learning_rate(k))
        self.history["loss"].append(loss)
        self.history["smoothed_loss"].append(smoothed)
        self._best = min(self._best, smoothed)
        if not math.isfinite(smoothed) or smoothed > self.stop_factor * self._best:
            self.diverged = True
            self.model.stop_training = True
        elif k + 1 >= self.steps:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        for variable, value in zip(self.model.weights, self._saved_weights, strict=True):
            variable.assign(value)
        for variable, value in zip(
            self.model.optimizer.variables, self._saved_optimizer, strict=True
        ):
            variable.assign(value)
        self.suggestion = self._suggest()

    def lowest_loss_lr(self):
        """The swept rate with the lowest (finite) smoothed loss; None before a sweep."""
        smoothed = np.asarray(self.history["smoothed_loss"], dtype="float64")
        if not np.isfinite(smoothed).any():
            return None
        lowest = int(np.nanargmin(np.where(np.isfinite(smoothed), smoothed, np.nan)))
        return self.history["lr"][lowest]

    def _suggest(self):
        lowest = self.lowest_loss_lr()
        return None if lowest is None else max(self.min_lr, lowest / 10.0)

    def plot(self, path):
        """Loss and smoothed loss against the rate (log axis), suggestion marked; returns the PNG path."""
        if not self.history["lr"]:
            raise ValueError(
                "LRFinder.plot needs a finished sweep: call model.fit with this callback first"
            )
        return plotting.plot_lr_finder(
            self.history["lr"],
            self.history["loss"],
            path,
            self.history["smoothed_loss"],
            self.suggestion,
        )

    def get_config(self):
        return {
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "steps": self.steps,
            "smoothing": self.smoothing,
            "stop_factor": self.stop_factor,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
