import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from kerasopt.callbacks import SnapshotEnsemble
from kerasopt.distill import Distiller, distillation_loss, tempered_log_probabilities
from kerasopt.ensembles import export, load


def np_log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def np_distillation(labels, student_logits, teacher_logits, t, alpha):
    """Hinton et al. 2015, sec. 2, restated: alpha * CE + (1 - alpha) * T^2 * KL(p_T || q_T)."""
    ce = -np_log_softmax(student_logits)[np.arange(len(labels)), labels].mean()
    log_p, log_q = np_log_softmax(teacher_logits / t), np_log_softmax(student_logits / t)
    kl = (np.exp(log_p) * (log_p - log_q)).sum(axis=-1).mean()
    return alpha * ce + (1 - alpha) * t**2 * kl


@pytest.mark.portable
@pytest.mark.parametrize("temperature", [1.0, 2.5, 7.0])
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("kind", ["logits", "probabilities"])
@pytest.mark.reference("distill.distillation_loss", "distill.distillation_terms")
def test_loss_matches_numpy_including_t_squared(temperature, alpha, kind):
    rng = np.random.default_rng(0)
    zs, zt = rng.normal(size=(16, 5)) * 2, rng.normal(size=(16, 5)) * 3
    labels = rng.integers(0, 5, 16)
    expected = np_distillation(labels, zs, zt, temperature, alpha)
    if kind == "probabilities":  # softmax outputs: the loss tempers them as softmax(log p / T)
        zs_in, zt_in = np.exp(np_log_softmax(zs)), np.exp(np_log_softmax(zt))
    else:
        zs_in, zt_in = zs, zt
    got = float(distillation_loss(labels, zs_in, zt_in, temperature, alpha, kind, kind))
    assert abs(got - expected) < 1e-6
    # one-hot labels give the same value
    onehot = np.eye(5)[labels]
    assert (
        abs(
            float(distillation_loss(onehot, zs_in, zt_in, temperature, alpha, kind, kind))
            - expected
        )
        < 1e-6
    )


@pytest.mark.portable
def test_t_squared_scaling_of_the_soft_term():
    rng = np.random.default_rng(1)
    zs, zt, labels = rng.normal(size=(8, 4)), rng.normal(size=(8, 4)), rng.integers(0, 4, 8)
    for t in (2.0, 5.0):
        log_p, log_q = np_log_softmax(zt / t), np_log_softmax(zs / t)
        kl = (np.exp(log_p) * (log_p - log_q)).sum(axis=-1).mean()
        got = float(distillation_loss(labels, zs, zt, t, 0.0, "logits", "logits"))
        assert abs(got - t * t * kl) < 1e-6


@pytest.mark.portable
@pytest.mark.reference("distill.tempered_log_probabilities")
def test_tempered_probabilities_equal_tempered_logits():
    z = np.random.default_rng(2).normal(size=(6, 3))
    p = np.exp(np_log_softmax(z))
    np.testing.assert_allclose(
        np.asarray(tempered_log_probabilities(p, 3.0)), np_log_softmax(z / 3.0), atol=1e-9
    )


def mlp(width, seed, classes=3, activation="softmax"):
    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(width, activation="relu", kernel_initializer=init),
            keras.layers.Dense(
                classes,
                activation=activation,
                kernel_initializer=keras.initializers.GlorotUniform(seed + 1),
            ),
        ]
    )


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, np.argmax(x[:, :3], axis=1)


@pytest.mark.portable
@pytest.mark.reference("distill.Distiller")
def test_alpha_one_equals_ordinary_training():
    x, y = data()
    student, reference, teacher = mlp(8, 1), mlp(8, 1), mlp(32, 7)
    reference.set_weights(student.get_weights())
    distiller = Distiller(student, teacher, temperature=3.0, alpha=1.0)
    distiller.compile(optimizer=keras.optimizers.SGD(0.1))
    distiller.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    reference.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    reference.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(student.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.portable
def test_distiller_trains_only_the_student_and_lowers_the_loss():
    x, y = data(128)
    teacher = mlp(32, 7)
    teacher.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    teacher.fit(x, y, epochs=20, verbose=0)
    before = [w.copy() for w in teacher.get_weights()]
    distiller = Distiller(mlp(8, 1), teacher, temperature=2.0, alpha=0.2)
    distiller.compile(optimizer=keras.optimizers.Adam(0.01), metrics=["accuracy"])
    first = distiller.evaluate(x, y, verbose=0, return_dict=True)
    distiller.fit(x, y, epochs=10, verbose=0)
    last = distiller.evaluate(x, y, verbose=0, return_dict=True)
    assert last["loss"] < first["loss"] and set(last) == {
        "loss",
        "student_loss",
        "distillation_loss",
        "accuracy",
    }
    assert abs(last["loss"] - (0.2 * last["student_loss"] + 0.8 * last["distillation_loss"])) < 1e-4
    for a, b in zip(before, teacher.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.portable
@pytest.mark.reference("distill.Distiller")
def test_evaluate_matches_the_numpy_loss():
    x, y = data(32)
    student, teacher = mlp(8, 1, activation=None), mlp(16, 3, activation=None)
    distiller = Distiller(
        student, teacher, 4.0, 0.25, student_outputs="logits", teacher_outputs="logits"
    )
    distiller.compile(optimizer="sgd")
    got = distiller.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)["loss"]
    expected = np_distillation(
        y,
        student.predict(x, verbose=0).astype("float64"),
        teacher.predict(x, verbose=0).astype("float64"),
        4.0,
        0.25,
    )
    assert abs(got - expected) < 1e-5


def one_step_weights(distribute=None, jit=False):
    x, y = data(16)
    with distribute.scope() if distribute else _null():
        distiller = Distiller(mlp(8, 1), mlp(16, 3), temperature=2.0, alpha=0.5)
        distiller.compile(optimizer=keras.optimizers.SGD(0.5), jit_compile=jit)
    distiller.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return distiller.student.get_weights()


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


@pytest.mark.portable
def test_jit_compile_matches_graph():
    for a, b in zip(one_step_weights(jit=True), one_step_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_mirrored_strategy_matches_one_device(strategy):
    for a, b in zip(one_step_weights(strategy), one_step_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.portable
def test_save_load_round_trip(tmp_path):
    x, y = data(32)
    distiller = Distiller(mlp(8, 1), mlp(16, 3), temperature=3.0, alpha=0.4)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    distiller.fit(x, y, epochs=1, verbose=0)
    distiller.save(tmp_path / "d.keras")
    restored = keras.models.load_model(tmp_path / "d.keras")
    assert isinstance(restored, Distiller) and restored.compiled and restored.built
    assert (restored.temperature, restored.alpha, restored.teacher_outputs) == (
        3.0,
        0.4,
        "probabilities",
    )
    np.testing.assert_array_equal(restored.predict(x, verbose=0), distiller.predict(x, verbose=0))
    np.testing.assert_array_equal(
        restored.teacher.predict(x, verbose=0), distiller.teacher.predict(x, verbose=0)
    )
    for a, b in zip(distiller.optimizer.variables, restored.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # the student alone is an ordinary model
    distiller.student.save(tmp_path / "s.keras")
    alone = keras.models.load_model(tmp_path / "s.keras")
    np.testing.assert_array_equal(alone.predict(x, verbose=0), distiller.predict(x, verbose=0))


SERVE = textwrap.dedent(
    """
    import sys
    sys.modules["kerasopt"] = None  # any import of kerasopt below raises ImportError
    import numpy as np
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    np.save(sys.argv[3], loaded.serve(tf.constant(np.load(sys.argv[2]))).numpy())
    """
)


def serve_without_kerasopt(saved_model, x, tmp_path):
    """Run the SavedModel in a fresh process where `import kerasopt` fails; return its outputs."""
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "serve.py").write_text(SERVE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "serve.py", str(saved_model), "x.npy", "out.npy"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return np.load(tmp_path / "out.npy")


def test_ensemble_teacher_student_exports_and_serves_without_kerasopt(tmp_path):
    x, y = data(64)
    member = mlp(16, 3)
    member.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    member.fit(
        x,
        y,
        batch_size=16,
        epochs=3,
        verbose=0,
        callbacks=[SnapshotEnsemble(tmp_path / "snaps", 3, max_lr=0.5)],
    )
    teacher = load(tmp_path / "snaps")
    distiller = Distiller(mlp(4, 1), teacher, temperature=2.0, alpha=0.5)
    distiller.compile(optimizer="adam")
    distiller.fit(x, y, epochs=2, verbose=0)
    paths = export(distiller.student, tmp_path / "student")
    served = serve_without_kerasopt(paths["saved_model"], x, tmp_path)
    np.testing.assert_allclose(served, distiller.student.predict(x, verbose=0), atol=1e-5)


@pytest.mark.portable
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"temperature": 0.0},
            ValueError,
            "Argument `temperature` must be in \\(0, inf\\). Received: temperature=0.0",
        ),
        (
            {"alpha": 1.5},
            ValueError,
            "Argument `alpha` must be in \\[0.0, 1.0\\]. Received: alpha=1.5",
        ),
        ({"teacher_outputs": "softmax"}, ValueError, "Argument `teacher_outputs` must be one of"),
        ({"student_outputs": "probs"}, ValueError, "Argument `student_outputs`"),
        ({"teacher": "model"}, TypeError, "Argument `teacher` must be a keras.Model"),
        ({"temperature": "4"}, TypeError, "Argument `temperature` must be a number"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    args = {"student": mlp(4, 1), "teacher": mlp(8, 2), **kwargs}
    with pytest.raises(error, match=match):
        Distiller(**args)


@pytest.mark.portable
def test_teacher_must_differ_and_compile_takes_no_loss():
    student = mlp(4, 1)
    with pytest.raises(ValueError, match="`teacher`"):
        Distiller(student, student)
    with pytest.raises(ValueError, match="Argument `loss` must be None"):
        Distiller(student, mlp(8, 2)).compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="Argument `alpha`"):
        distillation_loss([0], [[0.5, 0.5]], [[0.5, 0.5]], alpha=-0.1)


@pytest.mark.portable
def test_fit_with_validation_data_reports_the_numpy_validation_loss():
    """Keras' fit passes its own CallbackList to evaluate for the validation pass (which once
    failed: `kerasopt distill` trains with validation_data)."""
    (x, y), (xv, yv) = data(32), data(16, seed=1)
    student, teacher = mlp(8, 1, activation=None), mlp(16, 3, activation=None)
    distiller = Distiller(
        student, teacher, 2.0, 0.5, student_outputs="logits", teacher_outputs="logits"
    )
    distiller.compile(optimizer=keras.optimizers.SGD(0.1))
    history = distiller.fit(x, y, validation_data=(xv, yv), batch_size=16, epochs=1, verbose=0)
    expected = np_distillation(
        yv,
        student.predict(xv, verbose=0).astype("float64"),
        teacher.predict(xv, verbose=0).astype("float64"),
        2.0,
        0.5,
    )
    assert abs(history.history["val_loss"][-1] - expected) < 1e-5


@pytest.mark.portable
@pytest.mark.parametrize("role", ["student", "teacher"])
def test_logits_declared_as_probabilities_raise_on_the_first_batch(role):
    """Issue 26: a logits model under the default "probabilities" is refused, not trained."""
    x, y = data(32)
    logits = mlp(8, 1, activation=None)
    softmax = mlp(16, 3)
    student, teacher = (logits, softmax) if role == "student" else (softmax, logits)
    before = [w.copy() for w in student.get_weights()]
    distiller = Distiller(student, teacher)
    distiller.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=True)
    match = f"Argument `{role}_outputs` declares probabilities, but 16 rows of the {role}'s"
    batches = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(b))
    with pytest.raises(ValueError, match=match):
        distiller.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[counter])
    assert batches == [0]  # stopped on the first of 6 batches
    with pytest.raises(ValueError, match=f"Received: {role}_outputs='probabilities'"):
        distiller.evaluate(x, y, batch_size=16, verbose=0)
    # declared correctly, the same models train
    fixed = Distiller(student, teacher, **{f"{role}_outputs": "logits"})
    fixed.compile(optimizer=keras.optimizers.SGD(0.1))
    fixed.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, student.get_weights(), strict=True))


@pytest.mark.portable
def test_a_row_off_one_or_negative_is_counted():
    """The check's rule, against rows built by hand: only a negative entry or a sum off 1 by
    more than 1e-3 (the float16 rounding bound) counts."""
    from kerasopt.distill.distiller import _ConventionCounts

    rows = np.array(
        [[0.5, 0.5], [0.9995, 0.0], [1.0, 0.002], [-0.1, 1.1], [0.3, 0.3]], dtype="float32"
    )
    counts = _ConventionCounts(("probabilities", "logits"))
    counts.update_state(rows, rows)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(counts.result()), [3.0, 0.0])
