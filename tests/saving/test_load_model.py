"""`kerasopt.saving.load_model` against the model that was saved: a `.keras` file holding a
kerasopt layer loads and predicts the same; a truncated or missing file is named."""

import keras
import numpy as np
import pytest

from kerasopt.layers import StochasticDepth
from kerasopt.saving import load_model

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


@pytest.mark.reference("saving.load_model")
def test_a_saved_model_with_a_kerasopt_layer_loads_and_predicts_the_same(tmp_path):
    inputs = keras.Input((4,))
    branch = keras.layers.Dense(4)(inputs)
    outputs = keras.layers.Dense(2)(StochasticDepth(0.8)([inputs, branch]))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    model.save(tmp_path / "m.keras")
    restored = load_model(tmp_path / "m.keras")
    assert any(isinstance(layer, StochasticDepth) for layer in restored.layers)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    (tmp_path / "cut.keras").write_bytes((tmp_path / "m.keras").read_bytes()[:100])
    with pytest.raises(ValueError, match="not a complete .keras file"):
        load_model(tmp_path / "cut.keras")
    with pytest.raises(FileNotFoundError, match="No model file"):
        load_model(tmp_path / "none.keras")
