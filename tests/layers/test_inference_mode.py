"""`InferenceMode` against NumPy: inside a model that trains, the wrapped BatchNormalization
normalizes with its moving statistics (the NumPy formula), never updates them, and the
wrapped Dropout passes its input through."""

import keras
import numpy as np
import pytest

from kerasopt.layers import InferenceMode

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


@pytest.mark.reference("layers.InferenceMode")
def test_batchnorm_uses_and_keeps_its_moving_statistics_while_the_model_trains():
    rng = np.random.default_rng(0)
    bn = keras.layers.BatchNormalization(epsilon=1e-3)
    inner = keras.Sequential([keras.Input((3,)), bn, keras.layers.Dropout(0.5)])
    gamma, beta = rng.uniform(0.5, 2, 3), rng.normal(size=3)
    mean, var = rng.normal(size=3), rng.uniform(0.5, 2, 3)
    bn.set_weights([w.astype("float32") for w in (gamma, beta, mean, var)])
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1)(InferenceMode(inner)(inputs)))
    x = rng.normal(size=(8, 3)).astype("float32")
    expected = gamma * (x - mean) / np.sqrt(var + 1e-3) + beta
    got = InferenceMode(inner)(x, training=True)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.ones((8, 1)), epochs=2, batch_size=4, verbose=0)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mean.astype("float32"))
    np.testing.assert_array_equal(bn.moving_variance.numpy(), var.astype("float32"))
