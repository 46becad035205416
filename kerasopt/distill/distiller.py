"""Teacher -> student knowledge distillation as a Keras model (Hinton, Vinyals & Dean 2015).

Backend-neutral: the Distiller overrides `compute_loss` and keeps Keras' own `train_step`. The
loss itself is `kerasopt.distill.losses.distillation_loss`, in `keras.ops`.
"""

import keras
from keras import ops

from kerasopt._validation import check_choice, check_instance, check_positive, check_range
from kerasopt.distill._base import FixedLossModel, replica_share
from kerasopt.distill.losses import OUTPUTS, distillation_terms

# A softmax row computed in float16 (mixed precision) and summed in float32 is 1 within the
# float16 unit roundoff 2^-11 ~ 4.9e-4 (each p_i is rounded with relative error <= 2^-11 and
# sum p_i = 1), plus float32 summation error (< 1e-4 for 1000 classes): 1e-3 bounds both.
_ROW_SUM_TOLERANCE = 1e-3


class _ConventionCounts(keras.metrics.Metric):
    """Rows of the student's / teacher's outputs that are not probabilities (a negative entry,
    or a sum off 1 by more than `_ROW_SUM_TOLERANCE`), counted for the outputs declared
    "probabilities". Part of the step's state (so it is counted inside compiled steps on
    every backend); read after the first batch by `_ConventionCheck`, hidden from the logs."""

    def __init__(self, kinds, name="output_conventions"):
        super().__init__(name=name)
        self.kinds = kinds
        self.counts = [
            self.add_variable((), "zeros", dtype="float32", aggregation="sum", name=role)
            for role in ("student", "teacher")
        ]

    def update_state(self, student, teacher):
        for count, kind, outputs in zip(self.counts, self.kinds, (student, teacher), strict=True):
            if kind != "probabilities":
                continue
            outputs = ops.cast(outputs, "float32")
            bad = ops.logical_or(
                ops.any(outputs < 0, axis=-1),
                ops.abs(ops.sum(outputs, axis=-1) - 1.0) > _ROW_SUM_TOLERANCE,
            )
            count.assign_add(ops.sum(ops.cast(bad, "float32")))

    def result(self):
        return ops.stack([count.value for count in self.counts])


class _ConventionCheck(keras.callbacks.Callback):
    """Raises after the first batch of `fit` / `evaluate` if an output declared
    "probabilities" is not (`Distiller.check_conventions`)."""

    def __init__(self):
        super().__init__()
        self.checked = False

    def _check(self):
        if not self.checked:
            self.checked = True
            self.model.check_conventions()  # `self.model` syncs the JAX state first

    def on_train_batch_end(self, batch, logs=None):
        self._check()

    def on_test_batch_end(self, batch, logs=None):
        self._check()


@keras.saving.register_keras_serializable(package="kerasopt")
class Distiller(FixedLossModel):
    """Train `student` on alpha · CE(labels) + (1 − alpha) · T² · KL(teacher_T ‖ student_T).

    Hinton et al. 2015 (sec. 2) transfer what a large model (or an ensemble) knows to a small
    one by training the small one on the large one's softened outputs as well as on the
    labels. The `Distiller` runs the frozen teacher (inference mode) and the student on every
    batch; only the student's weights train. `fit` and `evaluate` report `loss`,
    `student_loss` (the hard-label cross entropy), `distillation_loss` (T² · KL) and the
    metrics given to `compile`, computed on the student's predictions; `predict` and calling
    the Distiller return the student's outputs. `compile` takes no `loss`. The student stays
    an ordinary Keras model: `distiller.student.save(...)`, `kerasopt.ensembles.export(...)`.

    The teacher can be any Keras model with the student's input, e.g. a snapshot ensemble
    from `kerasopt.ensembles.load`. Its `trainable` flag is set to False.

    Args:
        student: the `keras.Model` to train.
        teacher: the `keras.Model` to imitate (not trained).
        temperature: T > 0 of the soft targets (Hinton et al. use 1 to 20; 2 to 8 is common).
        alpha: weight of the hard-label term, in [0, 1]; 1 is ordinary training.
        student_outputs: what the student emits: "probabilities" (softmax outputs, the
            default, as kerasopt's fine-tuned models and ensembles emit) or "logits".
            Probabilities are tempered as softmax(log(p) / T).
        teacher_outputs: what the teacher emits, as `student_outputs`.

    A declared convention is checked on the first batch of every `fit` and `evaluate`: if an
    output declared "probabilities" has a negative entry or a row that does not sum to 1, a
    `ValueError` names `student_outputs` / `teacher_outputs` (a logits model with the default
    would otherwise train towards chance accuracy without a word).

    Example:
        >>> import numpy as np, keras
        >>> def mlp(width):
        ...     return keras.Sequential([keras.Input((4,)), keras.layers.Dense(width, activation="relu"),
        ...                              keras.layers.Dense(3, activation="softmax")])
        >>> distiller = Distiller(mlp(8), mlp(64), temperature=4.0, alpha=0.1)
        >>> distiller.compile(optimizer="adam", metrics=["accuracy"])
        >>> x, y = np.random.rand(32, 4).astype("float32"), np.arange(32) % 3
        >>> sorted(distiller.fit(x, y, epochs=1, verbose=0).history)
        ['accuracy', 'distillation_loss', 'loss', 'student_loss']
        >>> distiller.predict(x, verbose=0).shape
        (32, 3)

    References:
        Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network", sec. 2.
        Buciluǎ, Caruana & Niculescu-Mizil 2006, "Model Compression".
    """

    def __init__(
        self,
        student,
        teacher,
        temperature=4.0,
        alpha=0.1,
        student_outputs="probabilities",
        teacher_outputs="probabilities",
        **kwargs,
    ):
        check_instance("student", student, keras.Model, "a keras.Model")
        check_instance("teacher", teacher, keras.Model, "a keras.Model")
        check_positive("temperature", temperature)
        check_range("alpha", alpha, 0.0, 1.0)
        check_choice("student_outputs", student_outputs, OUTPUTS)
        check_choice("teacher_outputs", teacher_outputs, OUTPUTS)
        if student is teacher:
            raise ValueError(
                "Argument `teacher` must be a different model from `student`. Received: teacher=student"
            )
        super().__init__(**kwargs)
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.student_outputs = student_outputs
        self.teacher_outputs = teacher_outputs
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")
        self.conventions = _ConventionCounts((student_outputs, teacher_outputs))
        self.built = student.built and teacher.built

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """alpha · CE + (1 − alpha) · T² · KL on the student's `y_pred` and the teacher's
        outputs (plus the student's regularization losses when training); Keras' own
        `train_step` / `test_step` call it on every backend."""
        teacher = self.teacher(x, training=False)
        self.conventions.update_state(y_pred, teacher)
        cross_entropy, scaled_kl = distillation_terms(
            y,
            y_pred,
            teacher,
            self.temperature,
            self.student_outputs,
            self.teacher_outputs,
            sample_weight,
        )
        loss = self.alpha * cross_entropy + (1.0 - self.alpha) * scaled_kl
        if training and self.student.losses:
            loss = loss + ops.sum(self.student.losses)
        batch = ops.shape(y_pred)[0]
        self.student_loss_tracker.update_state(cross_entropy, sample_weight=batch)
        self.distillation_loss_tracker.update_state(scaled_kl, sample_weight=batch)
        return replica_share(loss)

    def get_metrics_result(self):
        logs = super().get_metrics_result()
        logs.pop(self.conventions.name, None)
        return logs

    def check_conventions(self):
        """Raise `ValueError` naming `student_outputs` / `teacher_outputs` if rows counted
        since the metrics' last reset break the declared convention ("probabilities")."""
        counts = keras.ops.convert_to_numpy(self.conventions.result())
        for argument, count in zip(("student_outputs", "teacher_outputs"), counts, strict=True):
            if count > 0:
                role = argument.split("_")[0]
                raise ValueError(
                    f"Argument `{argument}` declares probabilities, but {int(count)} rows of the "
                    f"{role}'s outputs on the first batch have a negative entry or do not sum to "
                    f"1 (logits?). Pass {argument}='logits' for a model without a softmax. "
                    f"Received: {argument}='probabilities'"
                )

    def fit(self, *args, callbacks=None, **kwargs):
        return super().fit(*args, callbacks=[*(callbacks or []), _ConventionCheck()], **kwargs)

    def evaluate(self, *args, callbacks=None, **kwargs):
        if isinstance(callbacks, keras.callbacks.CallbackList):  # fit's validation: fit's own
            return super().evaluate(*args, callbacks=callbacks, **kwargs)  # list has the check
        return super().evaluate(*args, callbacks=[*(callbacks or []), _ConventionCheck()], **kwargs)

    def get_config(self):
        return {
            **super().get_config(),
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "temperature": self.temperature,
            "alpha": self.alpha,
            "student_outputs": self.student_outputs,
            "teacher_outputs": self.teacher_outputs,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["student"] = keras.saving.deserialize_keras_object(config["student"])
        config["teacher"] = keras.saving.deserialize_keras_object(config["teacher"])
        return cls(**config)
