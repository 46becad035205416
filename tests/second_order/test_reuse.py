"""What a second `fit` / `minimize` reuses and what it does not: compiled functions are
cached (traces counted: a second call does not retrace), curvature state is not (a second
`fit`, or a `fit` after save/load, takes a fresh optimizer's first step, which is along the
negative gradient computed independently with tf.GradientTape); Keras base arguments the
methods cannot honour are refused by name."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from kerasopt.second_order import (
    BFGS,
    LBFGS,
    ConjugateGradient,
    Newton,
    SaddleFreeNewton,
    fit,
    minimize,
)


class CountingDense(keras.layers.Dense):
    """Dense that counts how often its `call` runs in Python: once per trace of a graph."""

    calls = 0

    def call(self, inputs):
        CountingDense.calls += 1
        return super().call(inputs)


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 2)).astype("float32")
    return x, np.sin(2 * x[:, :1]) * x[:, 1:]


def _model(optimizer, jit_compile=False):
    model = keras.Sequential(
        [keras.Input((2,)), CountingDense(8, activation="tanh"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
    return model


@pytest.mark.portable
@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_second_fit_does_not_retrace(jit_compile):
    x, y = _data()
    model = _model(LBFGS(), jit_compile)
    fit(model, x, y, max_iterations=3, verbose=0)
    traced = CountingDense.calls
    assert traced > 0
    fit(model, x, y, max_iterations=3, verbose=0)
    x2, y2 = _data(seed=1)  # other data, same shapes
    history = fit(model, x2, y2, max_iterations=3, verbose=0)
    assert CountingDense.calls == traced
    # ...and the cached graph really trains on the new data: its loss is the new data's.
    np.testing.assert_allclose(
        history.history["loss"][-1], model.evaluate(x2, y2, verbose=0), rtol=1e-5
    )


def test_a_second_fit_on_a_dataset_does_not_retrace():
    x, y = _data()
    model = _model(ConjugateGradient())
    fit(model, tf.data.Dataset.from_tensor_slices((x, y)).batch(16), max_iterations=2, verbose=0)
    traced = CountingDense.calls
    fit(model, tf.data.Dataset.from_tensor_slices((x, y)).batch(16), max_iterations=2, verbose=0)
    assert CountingDense.calls == traced


@pytest.mark.portable
def test_a_second_minimize_does_not_retrace():
    calls = []

    def fn(x):
        calls.append(1)
        return ops.sum((x - 1.0) ** 2) + ops.sum(x**4)

    first = minimize(fn, np.zeros(5), gtol=1e-10)
    traced = len(calls)
    second = minimize(fn, np.full(5, -2.0), gtol=1e-10, max_iterations=500)
    assert len(calls) == traced
    np.testing.assert_allclose(second.x, first.x, atol=1e-6)
    bounded = minimize(fn, np.full(5, 3.0), gtol=1e-10, bounds=(None, 0.4))  # a graph of its own
    traced = len(calls)
    again = minimize(fn, np.full(5, 2.0), gtol=1e-10, bounds=(-1.0, 0.3))
    assert len(calls) == traced
    np.testing.assert_allclose(bounded.x, 0.4, atol=1e-6)  # the unconstrained minimizer exceeds 0.4
    np.testing.assert_allclose(again.x, 0.3, atol=1e-6)


def _gradient(model, x, y):
    with tf.GradientTape() as tape:
        loss = keras.losses.mean_squared_error(y, model(x))
        loss = tf.reduce_mean(loss)
    return np.concatenate([np.ravel(g) for g in tape.gradient(loss, model.trainable_variables)])


def _flat(model):
    return np.concatenate([np.ravel(w) for w in model.get_weights()])


def _cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("cls", [LBFGS, BFGS])
def test_curvature_does_not_survive_a_second_fit_or_save_and_load(cls, tmp_path):
    """Within one fit the later steps are quasi-Newton steps (not along -g); a second fit's
    first step is along -g again, as is the first step after load_model."""
    x, y = _data()
    model = _model(cls())
    fit(model, x, y, max_iterations=6, verbose=0)
    w, g = _flat(model), _gradient(model, x, y)
    fit(model, x, y, max_iterations=1, verbose=0)
    assert _cosine(_flat(model) - w, -g) > 1 - 1e-5

    fit(model, x, y, max_iterations=6, verbose=0)
    w, g = _flat(model), _gradient(model, x, y)
    fit(model, x, y, max_iterations=2, verbose=0)  # one fit, two steps: the second uses curvature
    w1 = _flat(model)
    model.save(tmp_path / "m.keras")
    restored = keras.models.load_model(
        tmp_path / "m.keras", custom_objects={"CountingDense": CountingDense}
    )
    g1 = _gradient(restored, x, y)
    fit(restored, x, y, max_iterations=1, verbose=0)
    assert _cosine(_flat(restored) - w1, -g1) > 1 - 1e-5
    assert _cosine(w1 - w, -g) < 0.999  # two steps in one fit are not both along -g


@pytest.mark.portable
@pytest.mark.parametrize("cls", [LBFGS, BFGS, ConjugateGradient, Newton, SaddleFreeNewton])
@pytest.mark.parametrize(
    "argument,value",
    [
        ("clipnorm", 1.0),
        ("clipvalue", 0.5),
        ("global_clipnorm", 1.0),
        ("weight_decay", 1e-4),
        ("use_ema", True),
        ("loss_scale_factor", 128.0),
        ("gradient_accumulation_steps", 2),
    ],
)
def test_unsupported_keras_arguments_are_refused_by_name(cls, argument, value):
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__} does not support `{argument}`.*Received: {argument}={value}",
    ):
        cls(**{argument: value})


@pytest.mark.portable
def test_default_keras_arguments_are_accepted_and_round_trip():
    optimizer = LBFGS(clipnorm=None, use_ema=False, weight_decay=None)
    assert LBFGS.from_config(optimizer.get_config()).get_config() == optimizer.get_config()


@pytest.mark.portable
def test_recompiling_with_another_loss_retraces_for_that_loss():
    x, y = _data()
    optimizer = LBFGS()
    model = _model(optimizer)
    fit(model, x, y, max_iterations=2, verbose=0)
    model.compile(optimizer=optimizer, loss="mae")
    history = fit(model, x, y, max_iterations=2, verbose=0)
    mae = float(np.mean(np.abs(model.predict(x, verbose=0) - y)))
    np.testing.assert_allclose(history.history["loss"][-1], mae, rtol=1e-5)
