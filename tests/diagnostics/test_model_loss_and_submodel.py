"""The backend-neutral diagnostics against NumPy: `model_loss_fn` is the compiled loss plus the
regularization penalty, `submodel` outputs the hidden layer's activations."""

import keras
import numpy as np
import pytest

from kerasopt.diagnostics import model_loss_fn, submodel

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


def _model(rng, l2=0.0):
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="tanh", name="hidden"),
            keras.layers.Dense(1, kernel_regularizer=keras.regularizers.L2(l2) if l2 else None),
        ]
    )
    weights = [rng.normal(size=w.shape).astype("float32") for w in model.get_weights()]
    model.set_weights(weights)
    return model, weights


@pytest.mark.reference("diagnostics.model_loss_fn")
def test_model_loss_fn_is_the_weighted_mse_plus_the_l2_penalty():
    rng = np.random.default_rng(0)
    model, (k1, b1, k2, b2) = _model(rng, l2=0.1)
    model.compile(loss="mse")
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 1))
    weights = rng.uniform(0.5, 2.0, size=6)
    residual = np.tanh(x @ k1 + b1) @ k2 + b2 - y
    # Keras' default reduction: the weighted sum over the batch, divided by the batch size
    expected = np.sum(weights * residual[:, 0] ** 2) / 6 + 0.1 * np.sum(k2.astype("float64") ** 2)
    loss = model_loss_fn(model, x.astype("float32"), y.astype("float32"), weights)()
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)


@pytest.mark.reference("diagnostics.submodel")
def test_submodel_outputs_the_hidden_activations_with_the_shared_weights():
    rng = np.random.default_rng(1)
    model, (k1, b1, _, _) = _model(rng)
    hidden = submodel(model, model.get_layer("hidden").output)
    x = rng.normal(size=(5, 3)).astype("float32")
    np.testing.assert_allclose(
        hidden.predict(x, verbose=0), np.tanh(x @ k1 + b1), rtol=1e-5, atol=1e-6
    )
    assert hidden.get_layer("hidden") is model.get_layer("hidden")
