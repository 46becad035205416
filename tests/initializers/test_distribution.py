"""Models using the initializers build under MirroredStrategy and train with jit_compile=True.

(XLA and MirroredStrategy are tested separately: TensorFlow's XLA does not compile a
step whose variables live on another logical CPU device, which has nothing to do with
initializers, and they run only when the model is built.)
"""

import keras
import numpy as np

from kerasopt import initializers

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


def _fit(model, **compile_kwargs):
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy", **compile_kwargs)
    # the (replicated) variables hold the initializers' values
    np.testing.assert_array_equal(
        (np.asarray(model.layers[2].kernel) != 0).sum(axis=0), np.full(8, 5)
    )
    np.testing.assert_allclose(
        np.asarray(model.layers[3].bias), np.log(np.bincount(Y) / 64), rtol=1e-6
    )
    centre = np.asarray(model.layers[0].kernel)[1, 1]
    np.testing.assert_allclose(centre @ centre.T, np.eye(2), atol=1e-5)
    initial = [np.array(w) for w in model.get_weights()]
    history = model.fit(X, Y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return initial, model.get_weights(), history.history["loss"]


def test_build_and_fit_match_one_device(strategy):
    """Seeded initializers give the same weights on one device, under XLA and under
    MirroredStrategy (two replicas of 8 examples, gradients summed); two epochs of SGD then
    end at the same weights and losses as the plain one-device run."""
    initial, final, losses = _fit(_model())
    jit_initial, jit_final, jit_losses = _fit(_model(), jit_compile=True)
    with strategy.scope():
        mirrored = _model()
        mirrored_initial, mirrored_final, mirrored_losses = _fit(mirrored)
    for a, b, c in zip(initial, jit_initial, mirrored_initial, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert any(not np.allclose(a, b) for a, b in zip(initial, final, strict=True))
    for a, b, c in zip(final, jit_final, mirrored_final, strict=True):
        np.testing.assert_allclose(b, a, atol=1e-6, rtol=0)
        np.testing.assert_allclose(c, a, atol=1e-6, rtol=0)
    np.testing.assert_allclose(jit_losses, losses, rtol=1e-5)
    np.testing.assert_allclose(mirrored_losses, losses, rtol=1e-5)
