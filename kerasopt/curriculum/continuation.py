"""Continuation: train on a smoothed objective first and anneal it to the true one.

Goodfellow, Bengio & Courville 2016 (Deep Learning, sec. 8.7.6): a continuation method
solves a sequence of objectives J(0), J(1), ..., the first easy (smooth), the last the
objective of interest, each started from the previous solution. Here the smoothing is the
label-smoothing strength of the cross entropy (`SmoothedCrossentropy`), or any scalar
`keras.Variable` (a temperature a layer divides its logits by, a noise level), and
`Continuation` is the callback that anneals it epoch by epoch.

Backend-neutral (`keras.ops`, `keras.Variable`).
"""

import math

import keras
from keras import ops

from kerasopt._validation import check_bool, check_choice, check_int, check_number, check_range
from kerasopt.schedules._math import cosine_anneal, linear_anneal

SCHEDULES = ("linear", "cosine")


@keras.saving.register_keras_serializable(package="kerasopt")
class SmoothedCrossentropy(keras.losses.Loss):
    """Cross entropy with label smoothing ε held in a variable, so a callback can anneal it.

    The target of an example of class y over K classes is (1 − ε) · onehot(y) + ε / K
    (Szegedy et al. 2016, sec. 7); ε = 0 is the ordinary cross entropy. Unlike Keras' own
    `label_smoothing` argument (a constant compiled into the training graph), ε is the
    non-trainable `keras.Variable` `self.smoothing`: `Continuation(loss.smoothing, ...)`
    changes it between epochs without retracing the train step.

    Args:
        smoothing: the initial ε in [0, 1].
        from_logits: whether predictions are logits (else probabilities).
        sparse: labels are integer class ids (True) or one-hot rows (False).

    Example:
        >>> import numpy as np
        >>> loss = SmoothedCrossentropy(smoothing=0.2)
        >>> p = np.array([[0.6, 0.4]], dtype="float32")
        >>> round(float(loss(np.array([0]), p)), 4)  # -(0.9 log 0.6 + 0.1 log 0.4)
        0.5514

    References:
        Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision",
        CVPR, sec. 7.
    """

    def __init__(
        self, smoothing=0.0, from_logits=False, sparse=True, name="smoothed_crossentropy", **kwargs
    ):
        check_range("smoothing", smoothing, 0.0, 1.0)
        self.from_logits = check_bool("from_logits", from_logits)
        self.sparse = check_bool("sparse", sparse)
        super().__init__(name=name, **kwargs)
        self.smoothing = keras.Variable(
            float(smoothing), trainable=False, dtype="float32", name="smoothing"
        )

    def call(self, y_true, y_pred):
        classes = y_pred.shape[-1]
        if self.sparse:
            y_true = ops.one_hot(
                ops.cast(ops.reshape(y_true, (-1,)), "int32"), classes, dtype=y_pred.dtype
            )
        eps = ops.cast(self.smoothing, y_pred.dtype)
        target = (1.0 - eps) * ops.cast(y_true, y_pred.dtype) + eps / classes
        if self.from_logits:
            log_p = ops.log_softmax(y_pred, axis=-1)
        else:
            log_p = ops.log(ops.clip(y_pred, 1e-7, 1.0))
        return -ops.sum(target * log_p, axis=-1)

    def get_config(self):
        return {
            **super().get_config(),
            "smoothing": float(ops.convert_to_numpy(self.smoothing)),
            "from_logits": self.from_logits,
            "sparse": self.sparse,
        }


def continuation_value(epoch, start, end, epochs, schedule="linear"):
    """The smoothing at `epoch`: `start` at 0, `end` from `epochs` on, linear or half-cosine between.

    linear: start + (end − start) · min(epoch / epochs, 1);
    cosine: end + (start − end) · (1 + cos(π · min(epoch / epochs, 1))) / 2.

    Example:
        >>> [round(continuation_value(e, 0.4, 0.0, 4), 3) for e in range(6)]
        [0.4, 0.3, 0.2, 0.1, 0.0, 0.0]
    """
    check_int("epoch", epoch, minimum=0)
    check_choice("schedule", schedule, SCHEDULES)
    position = ops.convert_to_tensor(float(epoch), "float32")
    if schedule == "linear":
        return float(linear_anneal(start, end, position / epochs))
    return float(cosine_anneal(start, end, position, float(epochs)))


@keras.saving.register_keras_serializable(package="kerasopt")
class Continuation(keras.callbacks.Callback):
    """Anneal a smoothing variable from `start` (easy objective) to `end` (the true one).

    Goodfellow, Bengio & Courville 2016, sec. 8.7.6 (continuation methods); Bengio et al.
    2009 present curriculum learning as a continuation method. At the start of epoch e the
    variable is set to `continuation_value(e, start, end, epochs, schedule)`: epochs
    0 .. epochs-1 train on smoothed objectives, epoch `epochs` and later on the true one.
    The value of each epoch is added to the logs as `smoothing` (or `log_name`).

    A variable that is not already the model's (a loss's, as `SmoothedCrossentropy.smoothing`)
    joins the model's non-trainable state for the duration of `fit`, so the compiled step
    reads its current value on every backend: JAX's jitted step receives the model's state
    as an argument and would otherwise hold the value it saw when it was traced.

    Args:
        variable: a scalar `keras.Variable`, e.g. `SmoothedCrossentropy(...).smoothing`.
        start: the value of epoch 0.
        end: the true objective's value (0 for label smoothing, 1 for a temperature).
        epochs: epochs to reach `end`, >= 1.
        schedule: "linear" or "cosine".
        log_name: key of the value in the epoch logs.

    Example:
        >>> import numpy as np, keras
        >>> loss = SmoothedCrossentropy()
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
        >>> model.compile(optimizer="sgd", loss=loss)
        >>> history = model.fit(np.zeros((4, 3)), np.zeros(4), epochs=3, verbose=0,
        ...                     callbacks=[Continuation(loss.smoothing, start=0.5, end=0.0, epochs=2)])
        >>> [round(v, 2) for v in history.history["smoothing"]]
        [0.5, 0.25, 0.0]

    References:
        Goodfellow, Bengio & Courville 2016, "Deep Learning", sec. 8.7.6. Bengio, Louradour,
        Collobert & Weston 2009, "Curriculum Learning", ICML, sec. 2.
    """

    def __init__(self, variable, start, end=0.0, epochs=5, schedule="linear", log_name="smoothing"):
        super().__init__()
        if not isinstance(variable, keras.Variable) or tuple(variable.shape) != ():
            raise TypeError(
                f"Argument `variable` must be a scalar keras.Variable. Received: variable={variable!r}"
            )
        self.variable = variable
        self.start = float(check_number("start", start))
        self.end = float(check_number("end", end))
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            raise ValueError(
                f"Arguments `start` and `end` must be finite. Received: start={start!r}, end={end!r}"
            )
        self.epochs = check_int("epochs", epochs, minimum=1)
        self.schedule = check_choice("schedule", schedule, SCHEDULES)
        self.log_name = log_name

    def value(self, epoch):
        return continuation_value(epoch, self.start, self.end, self.epochs, self.schedule)

    def on_train_begin(self, logs=None):
        model = self.model
        self._tracked = not any(v is self.variable for v in model.variables)
        if self._tracked:
            model._track_variable(self.variable)

    def on_train_end(self, logs=None):
        if getattr(self, "_tracked", False):
            self.model._untrack_variable(self.variable)
            self._tracked = False

    def on_epoch_begin(self, epoch, logs=None):
        self.variable.assign(self.value(epoch))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.log_name] = float(ops.convert_to_numpy(self.variable))

    def get_config(self):
        return {
            "start": self.start,
            "end": self.end,
            "epochs": self.epochs,
            "schedule": self.schedule,
            "log_name": self.log_name,
        }
