"""FitNets hint training (Romero et al. 2015): a first stage that teaches the student's lower
layers to predict a teacher layer's output through a learned regressor.

Backend-neutral: the HintTrainer overrides `compute_loss` (in `keras.ops`) and keeps Keras'
own `train_step`.
"""

import keras
from keras import ops

from kerasopt._validation import check_graph_model, check_instance
from kerasopt.distill._base import FixedLossModel, replica_share


def _layer_output(model, argument, name):
    if not isinstance(name, str):
        raise TypeError(
            f"Argument `{argument}` must be a layer name (str). Received: {argument}={name!r}"
        )
    names = [layer.name for layer in model.layers]
    if name not in names:
        raise ValueError(
            f"Argument `{argument}` must name a top-level layer of {model.name!r} (one of {names}). "
            f"Received: {argument}={name!r}"
        )
    return keras.Model(model.inputs, model.get_layer(name).output, name=f"{model.name}_to_{name}")


def hint_regressor(student_shape, teacher_shape, name="hint_regressor"):
    """The regressor r that maps the guided student layer's output onto the hint's shape.

    Romero et al. 2015 (sec. 2.2): a fully connected layer for vectors; for feature maps a
    convolution, so that the regressor stays small: with a student map of N_s × N_s and a
    teacher map of N_t × N_t (N_s ≥ N_t) the kernel is (N_s − N_t + 1) squared with "valid"
    padding (1 × 1 when the sizes agree). Both are linear, as in the paper's experiments
    where the regressor has no nonlinearity beyond the hint layer's own (the hint layer's
    output is matched as it is).

    Args:
        student_shape: per-example output shape of the guided layer (no batch axis):
            (features,) or (height, width, channels).
        teacher_shape: per-example output shape of the hint layer, in the same form.

    Example:
        >>> r = hint_regressor((12, 12, 8), (10, 10, 32))
        >>> r.layers[-1].kernel_size, r.output_shape
        ((3, 3), (None, 10, 10, 32))

    References:
        Romero et al. 2015, "FitNets: Hints for Thin Deep Nets", sec. 2.2.
    """
    student_shape, teacher_shape = tuple(student_shape), tuple(teacher_shape)
    if len(student_shape) != len(teacher_shape) or len(student_shape) not in (1, 3):
        raise ValueError(
            "Argument `teacher_shape` must have the student's rank, 1 (features) or 3 (height, width, "
            f"channels). Received: teacher_shape={teacher_shape!r} for student_shape={student_shape!r}"
        )
    inputs = keras.Input(student_shape)
    if len(student_shape) == 1:
        outputs = keras.layers.Dense(teacher_shape[0])(inputs)
    else:
        kernel = (student_shape[0] - teacher_shape[0] + 1, student_shape[1] - teacher_shape[1] + 1)
        if min(kernel) < 1:
            raise ValueError(
                "Argument `teacher_shape` must not be larger in height or width than the student's map. "
                f"Received: teacher_shape={teacher_shape!r} for student_shape={student_shape!r}"
            )
        outputs = keras.layers.Conv2D(teacher_shape[2], kernel, padding="valid")(inputs)
    return keras.Model(inputs, outputs, name=name)


def hint_loss(teacher_hint, regressed):
    """Romero et al. 2015, eq. 3: ½ ‖u_h − r(v_g)‖² per example, averaged over the batch.

    `teacher_hint` (u_h) is held constant; gradients flow into `regressed` (r(v_g)).

    Example:
        >>> import numpy as np
        >>> float(hint_loss(np.zeros((2, 3)), np.ones((2, 3))))  # ½ · 3 per example
        1.5

    References:
        Romero et al. 2015, "FitNets: Hints for Thin Deep Nets", ICLR, sec. 2.2.
    """
    diff = ops.reshape(regressed - ops.stop_gradient(teacher_hint), (ops.shape(regressed)[0], -1))
    return ops.mean(0.5 * ops.sum(ops.square(diff), axis=-1))


@keras.saving.register_keras_serializable(package="kerasopt")
class HintTrainer(FixedLossModel):
    """FitNets stage 1: train the student up to `student_layer`, plus a regressor, on a hint.

    Romero et al. 2015 (sec. 2.2, Algorithm 1) first pre-train the thin, deep student's
    layers up to a "guided" layer so that a regressor on top of them predicts the output
    of a "hint" layer of the (wider) teacher, with the L2 loss ½ ‖u_h(x) − r(v_g(x))‖²
    (`hint_loss`); then they train the whole student by distillation (`Distiller`). The
    HintTrainer shares the student's layers, so fitting it changes the student in place;
    only the layers that feed `student_layer` and the regressor receive gradients. Labels
    are not needed (`fit(x)`); `fit` and `evaluate` report `loss` (the hint loss).

    Args:
        student: a built Sequential or functional `keras.Model` with one input.
        teacher: a built Sequential or functional `keras.Model` with one input.
        student_layer: name of the student's guided layer (a top-level layer).
        teacher_layer: name of the teacher's hint layer (a top-level layer).
        regressor: a `keras.Model` mapping the guided layer's output onto the hint's shape;
            default `hint_regressor(...)`.

    Example:
        >>> import numpy as np, keras
        >>> student = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, name="guided"),
        ...                             keras.layers.Dense(2, activation="softmax")])
        >>> teacher = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, name="hint"),
        ...                             keras.layers.Dense(2, activation="softmax")])
        >>> stage = HintTrainer(student, teacher, "guided", "hint")
        >>> stage.compile(optimizer="adam")
        >>> sorted(stage.fit(np.random.rand(16, 6), epochs=1, verbose=0).history)
        ['loss']

    References:
        Romero, Ballas, Kahou, Chassang, Gatta & Bengio 2015, "FitNets: Hints for Thin Deep
        Nets", ICLR, sec. 2.2 and Algorithm 1.
    """

    def __init__(self, student, teacher, student_layer, teacher_layer, regressor=None, **kwargs):
        check_graph_model("student", student)
        check_graph_model("teacher", teacher)
        guided = _layer_output(student, "student_layer", student_layer)
        hint = _layer_output(teacher, "teacher_layer", teacher_layer)
        if regressor is None:
            regressor = hint_regressor(guided.output.shape[1:], hint.output.shape[1:])
        check_instance("regressor", regressor, keras.Model, "a keras.Model")
        super().__init__(**kwargs)
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.student_layer = student_layer
        self.teacher_layer = teacher_layer
        self.guided = guided
        self.hint = hint
        self.regressor = regressor
        self.built = True

    def call(self, inputs, training=False):
        """The regressor's prediction of the teacher's hint."""
        return self.regressor(self.guided(inputs, training=training), training=training)

    @property
    def trainable_weights(self):
        """The weights this stage trains: the student's up to the guided layer, and the regressor's.

        The student's layers above the guided one are left out, so that no optimizer (with
        momentum or weight decay) moves them on the zero gradients they would receive."""
        return self.guided.trainable_weights + self.regressor.trainable_weights

    @property
    def trainable_variables(self):
        return self.trainable_weights

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The hint loss of the regressor's prediction `y_pred` (Keras' own steps call it)."""
        return replica_share(hint_loss(self.hint(x, training=False), y_pred))

    def get_config(self):
        return {
            **super().get_config(),
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "student_layer": self.student_layer,
            "teacher_layer": self.teacher_layer,
            "regressor": keras.saving.serialize_keras_object(self.regressor),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("student", "teacher", "regressor"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
