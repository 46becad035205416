"""Every initializer survives model.save / keras.models.load_model inside a model."""

import keras
import numpy as np
import pytest

from kerasopt import initializers

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


@pytest.mark.parametrize(
    "kernel_init, bias_init",
    [
        (initializers.Sparse(k=4, stddev=0.3, seed=3), "zeros"),
        (initializers.Sparse(k=4, seed=keras.random.SeedGenerator(3)), "zeros"),
        (initializers.DeltaOrthogonal(gain=1.4, seed=5), "zeros"),
        (initializers.he(seed=1), initializers.PriorBias([0.1] * 6)),
        (initializers.glorot("tanh", seed=2), "zeros"),
        (initializers.lecun("selu"), "zeros"),
        (initializers.orthogonal("relu", seed=4), "zeros"),
    ],
)
def test_save_load_round_trip(tmp_path, kernel_init, bias_init):
    model = keras.Sequential(
        [
            keras.Input((6, 6, 3)),
            keras.layers.Conv2D(6, 3, kernel_initializer=kernel_init, bias_initializer=bias_init),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = np.random.default_rng(0).normal(size=(3, 6, 6, 3)).astype("float32")
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model(x), loaded(x))
    conv = loaded.layers[0]
    assert type(conv.kernel_initializer) is type(kernel_init)
    assert conv.kernel_initializer.get_config() == kernel_init.get_config()
    assert conv.bias_initializer.get_config() == keras.initializers.get(bias_init).get_config()


def test_from_config_rebuilds_equal_draws():
    for init in (initializers.Sparse(k=3, seed=8), initializers.DeltaOrthogonal(gain=2.0, seed=8)):
        clone = type(init).from_config(init.get_config())
        np.testing.assert_array_equal(init((3, 3, 4, 5)), clone((3, 3, 4, 5)))
