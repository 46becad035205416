"""The LR range test on a compiled model, with the measured time of a step.

Source: Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017, sec. 3.3;
`kerasopt.callbacks.LRFinder` does the sweep.
"""

import math
import time

import keras
import numpy as np

from kerasopt.callbacks.lr_finder import LRFinder


def batches_per_epoch(dataset):
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
        >>> from kerasopt.transfer.lr_range import lr_range_test
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
    timer = StepTimer()
    if y is None:
        per_epoch = batches_per_epoch(x)
        epochs = math.ceil(steps / per_epoch) if per_epoch > 0 else 1
        model.fit(x, epochs=epochs, verbose=0, callbacks=[finder, timer], shuffle=False)
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


class StepTimer(keras.callbacks.Callback):
    """Wall time of each training or prediction step: `seconds_per_step` leaves out the first
    (it traces and compiles), `trace_seconds` is how much longer the first took."""

    def __init__(self):
        super().__init__()
        self.times, self._begin = [], None

    def on_train_batch_begin(self, batch, logs=None):
        self._begin = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._begin)

    on_predict_batch_begin = on_train_batch_begin
    on_predict_batch_end = on_train_batch_end

    def seconds_per_step(self):
        times = self.times[1:] or self.times
        return float(np.median(times)) if times else 0.0

    def trace_seconds(self):
        return max(0.0, self.times[0] - self.seconds_per_step()) if self.times else 0.0
