"""Teacher -> student knowledge distillation as a Keras model (Hinton, Vinyals & Dean 2015).

TensorFlow backend: `train_step` takes its gradients with `tf.GradientTape`. The loss itself
is `kerasopt.distill.losses.distillation_loss`, in `keras.ops`.
"""

import keras
from keras import ops

from kerasopt._validation import check_choice, check_instance, check_positive, check_range
from kerasopt.distill._base import FixedLossModel, num_replicas
from kerasopt.distill.losses import OUTPUTS, distillation_terms


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
        self.built = student.built and teacher.built

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def _loss(self, x, y, sample_weight, training):
        teacher = self.teacher(x, training=False)
        student = self.student(x, training=training)
        cross_entropy, scaled_kl = distillation_terms(
            y,
            student,
            teacher,
            self.temperature,
            self.student_outputs,
            self.teacher_outputs,
            sample_weight,
        )
        loss = self.alpha * cross_entropy + (1.0 - self.alpha) * scaled_kl
        if training and self.student.losses:
            loss = loss + ops.sum(self.student.losses)
        batch = ops.shape(student)[0]
        self._loss_tracker.update_state(loss, sample_weight=batch)
        self.student_loss_tracker.update_state(cross_entropy, sample_weight=batch)
        self.distillation_loss_tracker.update_state(scaled_kl, sample_weight=batch)
        return loss, student

    @property
    def trained_weights(self):
        """The student's trainable weights."""
        return self.student.trainable_weights

    def train_step(self, data):
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            loss, student = self._loss(x, y, sample_weight, training=True)
            # Gradients are summed over replicas: each one contributes its share of the mean.
            loss = self.optimizer.scale_loss(loss / num_replicas())
        weights = self.trained_weights
        self.optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=True))
        return self.compute_metrics(x, y, student, sample_weight)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        _, student = self._loss(x, y, sample_weight, training=False)
        return self.compute_metrics(x, y, student, sample_weight)

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
