import math

import keras
import numpy as np
import pytest

from kerasopt.curriculum import Continuation, SmoothedCrossentropy, continuation_value

pytestmark = pytest.mark.portable  # every test here is backend-neutral


@pytest.mark.reference("curriculum.continuation_value")
def test_schedule_closed_forms():
    for e in range(12):
        f = min(e / 8, 1.0)
        assert abs(continuation_value(e, 0.6, 0.1, 8, "linear") - (0.6 + (0.1 - 0.6) * f)) < 1e-6
        assert (
            abs(
                continuation_value(e, 0.6, 0.1, 8, "cosine")
                - (0.1 + 0.5 * (0.6 - 0.1) * (1 + math.cos(math.pi * f)))
            )
            < 1e-6
        )
        assert (
            abs(continuation_value(e, 4.0, 1.0, 8) - (4.0 - 3.0 * f)) < 1e-6
        )  # a temperature going to 1


@pytest.mark.reference("curriculum.SmoothedCrossentropy")
def test_smoothed_crossentropy_matches_numpy_and_keras():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=8).astype("float32")
    y = rng.integers(0, 5, 8)
    for eps in (0.0, 0.1, 0.7):
        target = (1 - eps) * np.eye(5)[y] + eps / 5
        expected = np.mean(-(target * np.log(p)).sum(axis=1))
        assert abs(float(SmoothedCrossentropy(eps)(y, p)) - expected) < 1e-5
        keras_loss = keras.losses.CategoricalCrossentropy(label_smoothing=eps)(np.eye(5)[y], p)
        assert (
            abs(float(SmoothedCrossentropy(eps, sparse=False)(np.eye(5)[y], p)) - float(keras_loss))
            < 1e-5
        )
    z = rng.normal(size=(8, 5)).astype("float32")
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    assert (
        abs(
            float(SmoothedCrossentropy(0.0, from_logits=True)(y, z))
            - np.mean(-logp[np.arange(8), y])
        )
        < 1e-5
    )


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.reference("curriculum.Continuation", "curriculum.SmoothedCrossentropy")
def test_callback_sets_each_epochs_value_and_the_loss_uses_it(jit):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 3)).astype("float32"), rng.integers(0, 4, 32)
    loss = SmoothedCrossentropy()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="softmax")])
    model.compile(
        optimizer=keras.optimizers.SGD(0.0), loss=loss, jit_compile=jit
    )  # lr 0: fixed weights
    p = model.predict(x, verbose=0).astype("float64")
    callback = Continuation(loss.smoothing, start=0.8, end=0.0, epochs=4, schedule="cosine")
    history = model.fit(x, y, batch_size=32, epochs=6, verbose=0, callbacks=[callback])
    expected_eps = [0.4 * (1 + math.cos(math.pi * min(e / 4, 1))) for e in range(6)]
    np.testing.assert_allclose(history.history["smoothing"], expected_eps, atol=1e-6)
    # the loss each epoch reports is the NumPy loss at that epoch's epsilon: the compiled step
    # read the variable's current value (on JAX it stayed at epoch 0's before the fix)
    for eps, got in zip(expected_eps, history.history["loss"], strict=True):
        target = (1 - eps) * np.eye(4)[y] + eps / 4
        assert abs(got - np.mean(-(target * np.log(p)).sum(axis=1))) < 1e-4
    # the loss's variable was the model's only while it trained: the model saves as before
    assert all(v is not loss.smoothing for v in model.variables)


def test_config_round_trips(tmp_path):
    loss = SmoothedCrossentropy(0.3, from_logits=True)
    restored = SmoothedCrossentropy.from_config(loss.get_config())
    assert restored.get_config() == loss.get_config()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss=loss)
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    assert abs(float(reloaded.loss.smoothing) - 0.3) < 1e-7 and reloaded.loss.from_logits
    callback = Continuation(loss.smoothing, 0.5, 0.0, 3, "cosine")
    assert (
        Continuation(loss.smoothing, **callback.get_config()).get_config() == callback.get_config()
    )


@pytest.mark.parametrize(
    "make, error, match",
    [
        (
            lambda: SmoothedCrossentropy(1.5),
            ValueError,
            r"Argument `smoothing` must be in \[0.0, 1.0\]. Received: smoothing=1.5",
        ),
        (
            lambda: SmoothedCrossentropy(0.1, from_logits=1),
            TypeError,
            r"Argument `from_logits` must be True or False",
        ),
        (
            lambda: Continuation(0.5, 0.5),
            TypeError,
            r"Argument `variable` must be a scalar keras.Variable. Received: variable=0.5",
        ),
        (
            lambda: Continuation(keras.Variable(0.0), 0.5, epochs=0),
            ValueError,
            r"Argument `epochs` must be an integer >= 1. Received: epochs=0",
        ),
        (
            lambda: Continuation(keras.Variable(0.0), 0.5, schedule="step"),
            ValueError,
            r"Argument `schedule` must be one of 'linear', 'cosine'",
        ),
        (
            lambda: Continuation(keras.Variable(0.0), "0.5"),
            TypeError,
            r"Argument `start` must be a number",
        ),
    ],
)
def test_bad_arguments_are_named(make, error, match):
    with pytest.raises(error, match=match):
        make()
