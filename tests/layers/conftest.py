"""Backend-neutral helpers for the layers' reference tests (they run on TensorFlow and on JAX)."""

import keras
import numpy as np
import pytest


@pytest.fixture
def repeated_call():
    """fn -> fn compiled once for repeated random draws on TensorFlow (`tf.function`), else as is
    (eager JAX draws a new mask on every call too)."""
    if keras.backend.backend() != "tensorflow":
        return lambda fn: fn
    import tensorflow as tf

    return tf.function


@pytest.fixture
def kernel_gradient():
    """(layer, x, c) -> (y, dL/dkernel) of one training call, L = sum(y * c): a tape on
    TensorFlow, `jax.grad` of the layer's `stateless_call` on JAX (one mask for both)."""

    def tensorflow(layer, x, c):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * c)
        return np.asarray(y), tape.gradient(loss, layer.trainable_variables[0].value).numpy()

    def jax(layer, x, c):
        import jax

        frozen = [v.value for v in layer.non_trainable_variables]

        def loss(trainable):
            y, _ = layer.stateless_call(trainable, frozen, x, training=True)
            return jax.numpy.sum(y * c), y

        trainable = [v.value for v in layer.trainable_variables]
        (_, y), grads = jax.value_and_grad(loss, has_aux=True)(trainable)
        return np.asarray(y), np.asarray(grads[0])

    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        pytest.skip(f"no gradient helper for the {backend} backend")
    return tensorflow if backend == "tensorflow" else jax
