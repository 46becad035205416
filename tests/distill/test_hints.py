import keras
import numpy as np
import pytest

from kerasopt.distill import HintTrainer, hint_regressor
from kerasopt.distill.hints import hint_loss


def student_and_teacher():
    student = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(6, activation="relu", name="s1"),
            keras.layers.Dense(5, activation="relu", name="guided"),
            keras.layers.Dense(5, activation="relu", name="s3"),
            keras.layers.Dense(3, activation="softmax", name="s_out"),
        ],
        name="student",
    )
    teacher = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(32, activation="relu", name="hint"),
            keras.layers.Dense(3, activation="softmax", name="t_out"),
        ],
        name="teacher",
    )
    return student, teacher


def weights_of(model, names):
    return {n: [w.copy() for w in model.get_layer(n).get_weights()] for n in names}


@pytest.mark.portable
def test_hint_stage_changes_only_the_guided_layers_and_the_regressor_and_lowers_the_loss():
    x = np.random.default_rng(0).normal(size=(128, 8)).astype("float32")
    student, teacher = student_and_teacher()
    stage = HintTrainer(student, teacher, "guided", "hint")
    stage.compile(optimizer=keras.optimizers.Adam(0.01))
    s_before = weights_of(student, ["s1", "guided", "s3", "s_out"])
    t_before = teacher.get_weights()
    r_before = [w.copy() for w in stage.regressor.get_weights()]
    first = stage.evaluate(x, verbose=0)
    stage.fit(x, epochs=15, batch_size=32, verbose=0)
    last = stage.evaluate(x, verbose=0)
    assert last < 0.5 * first
    after = weights_of(student, ["s1", "guided", "s3", "s_out"])
    for name in ("s1", "guided"):  # up to the guided layer: trained
        assert all(
            not np.array_equal(a, b) for a, b in zip(s_before[name], after[name], strict=True)
        )
    for name in ("s3", "s_out"):  # above it: untouched
        for a, b in zip(s_before[name], after[name], strict=True):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(t_before, teacher.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(
        not np.array_equal(a, b)
        for a, b in zip(r_before, stage.regressor.get_weights(), strict=True)
    )
    assert {id(w) for w in stage.trained_weights} == {
        id(w)
        for w in (
            student.get_layer("s1").trainable_weights
            + student.get_layer("guided").trainable_weights
            + stage.regressor.trainable_weights
        )
    }


@pytest.mark.portable
@pytest.mark.reference("distill.hint_loss")
def test_hint_loss_matches_numpy():
    rng = np.random.default_rng(1)
    u, r = rng.normal(size=(4, 3, 3, 2)), rng.normal(size=(4, 3, 3, 2))
    expected = np.mean(0.5 * ((u - r) ** 2).reshape(4, -1).sum(axis=1))  # Romero et al. 2015, eq. 3
    got = hint_loss(u, r)
    # float64 where the backend keeps it (TensorFlow); JAX without x64 computes in float32,
    # whose sum of 36 squares is exact to ~36 roundings of 2^-24 relative: 36 * 6e-8 * value.
    float64 = keras.backend.standardize_dtype(got.dtype) == "float64"
    assert abs(float(got) - expected) < (1e-9 if float64 else 36 * 2.0**-24 * expected)


@pytest.mark.portable
@pytest.mark.reference("distill.HintTrainer", "distill.hint_regressor")
def test_loss_reported_by_evaluate_is_the_numpy_hint_loss():
    x = np.random.default_rng(2).normal(size=(16, 8)).astype("float32")
    student, teacher = student_and_teacher()
    stage = HintTrainer(student, teacher, "guided", "hint")
    stage.compile(optimizer="sgd")
    guided = keras.Model(student.inputs, student.get_layer("guided").output).predict(x, verbose=0)
    hint = keras.Model(teacher.inputs, teacher.get_layer("hint").output).predict(x, verbose=0)
    regressed = stage.regressor.predict(guided, verbose=0)
    expected = np.mean(0.5 * ((hint - regressed) ** 2).sum(axis=1))
    assert abs(stage.evaluate(x, batch_size=16, verbose=0) - expected) < 1e-4 * max(1.0, expected)


@pytest.mark.portable
@pytest.mark.reference("distill.hint_regressor")
def test_convolutional_regressor_matches_the_hint_shape():
    r = hint_regressor((12, 12, 8), (10, 10, 32))
    assert r.layers[-1].kernel_size == (3, 3) and r.output_shape == (None, 10, 10, 32)
    assert isinstance(hint_regressor((5,), (7,)).layers[-1], keras.layers.Dense)


@pytest.mark.portable
def test_jit_compile_hint_stage():
    x = np.random.default_rng(3).normal(size=(32, 8)).astype("float32")
    student, teacher = student_and_teacher()
    stage = HintTrainer(student, teacher, "guided", "hint")
    stage.compile(optimizer=keras.optimizers.Adam(0.01), jit_compile=True)
    history = stage.fit(x, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.portable
def test_save_load_round_trip(tmp_path):
    x = np.random.default_rng(4).normal(size=(16, 8)).astype("float32")
    student, teacher = student_and_teacher()
    stage = HintTrainer(student, teacher, "guided", "hint")
    stage.compile(optimizer="adam")
    stage.fit(x, epochs=1, verbose=0)
    stage.save(tmp_path / "h.keras")
    restored = keras.models.load_model(tmp_path / "h.keras")
    assert isinstance(restored, HintTrainer) and restored.student_layer == "guided"
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), stage.predict(x, verbose=0), atol=1e-6
    )
    np.testing.assert_array_equal(
        restored.student.predict(x, verbose=0), student.predict(x, verbose=0)
    )
    # the restored trainer still trains the restored student's own layers
    assert restored.trained_weights[0] is restored.student.get_layer("s1").kernel
    saved_state = [np.asarray(v) for v in stage.optimizer.variables]
    restored_state = [np.asarray(v) for v in restored.optimizer.variables]
    assert len(saved_state) == len(restored_state)
    for a, b in zip(saved_state, restored_state, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.portable
def test_bad_arguments_are_named():
    student, teacher = student_and_teacher()
    with pytest.raises(
        ValueError,
        match="Argument `student_layer` must name a top-level layer .* Received: student_layer='nope'",
    ):
        HintTrainer(student, teacher, "nope", "hint")
    with pytest.raises(ValueError, match="Received: teacher_layer='s1'"):
        HintTrainer(student, teacher, "guided", "s1")
    with pytest.raises(TypeError, match="Argument `student_layer` must be a layer name"):
        HintTrainer(student, teacher, 3, "hint")
    with pytest.raises(TypeError, match="Argument `regressor`"):
        HintTrainer(student, teacher, "guided", "hint", regressor="dense")
    with pytest.raises(ValueError, match="Argument `teacher_shape` must not be larger"):
        hint_regressor((4, 4, 3), (6, 6, 3))
    with pytest.raises(ValueError, match="Argument `teacher_shape` must have the student's rank"):
        hint_regressor((4, 4, 3), (16,))
    with pytest.raises(ValueError, match="Argument `loss` must be None"):
        HintTrainer(student, teacher, "guided", "hint").compile(optimizer="sgd", loss="mse")
