"""Models using the initializers build under MirroredStrategy and train with jit_compile=True.

(XLA and MirroredStrategy are tested separately: TensorFlow's XLA does not compile a
step whose variables live on another logical CPU device, which has nothing to do with
initializers, and they run only when the model is built.)
"""

import keras
import numpy as np
import pytest

from kerasopt import initializers

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 6, 6, 2)).astype("float32")
Y = RNG.integers(0, 3, size=64)


def _model():
    return keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(
                4, 3, activation="relu", kernel_initializer=initializers.DeltaOrthogonal(seed=1)
            ),
            keras.layers.Flatten(),
            keras.layers.Dense(
                8, activation="relu", kernel_initializer=initializers.Sparse(k=5, seed=2)
            ),
            keras.layers.Dense(
                3,
                activation="softmax",
                kernel_initializer="zeros",
                bias_initializer=initializers.PriorBias(initializers.prior_bias(Y, "softmax")),
            ),
        ]
    )


@pytest.mark.parametrize("distributed", [True, False])
def test_build_and_fit(strategy, distributed):
    if distributed:
        with strategy.scope():
            model = _model()
            model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    else:
        model = _model()
        model.compile(
            keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy", jit_compile=True
        )
    # the (replicated) variables hold the initializers' values
    np.testing.assert_array_equal(
        (np.asarray(model.layers[2].kernel) != 0).sum(axis=0), np.full(8, 5)
    )
    np.testing.assert_allclose(
        np.asarray(model.layers[3].bias), np.log(np.bincount(Y) / 64), rtol=1e-6
    )
    centre = np.asarray(model.layers[0].kernel)[1, 1]
    np.testing.assert_allclose(centre @ centre.T, np.eye(2), atol=1e-5)
    history = model.fit(X, Y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
