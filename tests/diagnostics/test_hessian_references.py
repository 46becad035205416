"""The tape-free second-order diagnostics against closed forms, on TensorFlow and JAX: the
gradient and H v of a quadratic-plus-quartic against their formulas, g^T g and g^T H g from
them, the top Hessian eigenvalue against `numpy.linalg.eigvalsh`, and H v of a compiled Keras
model's loss (least squares: H = 2 X^T X / n) through `model_loss_fn`."""

import contextlib

import keras
import numpy as np
import pytest
from keras import ops

from kerasopt import diagnostics

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


@pytest.fixture
def float64():
    """The closed forms are compared in float64: JAX needs x64 for that."""
    if keras.backend.backend() == "jax":
        import jax

        context = jax.enable_x64(True)
    else:
        context = contextlib.nullcontext()
    with context:
        yield


def _quadratic(n, seed):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = (q * np.linspace(0.5, 7.0, n)) @ q.T
    return a, rng.normal(size=n)


def _numpy(x):
    return ops.convert_to_numpy(x)


@pytest.mark.reference(
    "diagnostics.hessian_vector_product", "diagnostics.gradient", "diagnostics.gradient_curvature"
)
def test_hessian_vector_product_matches_closed_form(float64):
    a, b = _quadratic(6, 0)
    w0 = np.random.default_rng(1).normal(size=6)
    w = keras.Variable(w0, dtype="float64")
    unused = keras.Variable(np.ones(2), dtype="float64")

    def loss_fn():  # 1/2 w^T A w - b^T w + sum(w^4) / 4
        return 0.5 * ops.sum(w * ops.matmul(a, w)) - ops.sum(w * b) + ops.sum(w**4) / 4

    g = a @ w0 - b + w0**3
    dense = a + np.diag(3 * w0**2)  # the Hessian of the closed form
    loss, (grad, zero) = diagnostics.gradient(loss_fn, [w, unused])
    np.testing.assert_allclose(_numpy(loss), 0.5 * w0 @ a @ w0 - b @ w0 + np.sum(w0**4) / 4)
    np.testing.assert_allclose(_numpy(grad), g, rtol=1e-10)
    np.testing.assert_array_equal(_numpy(zero), np.zeros(2))  # the loss ignores it

    v = np.random.default_rng(2).normal(size=6)
    (hv,) = diagnostics.hessian_vector_product(loss_fn, [w], [v])
    np.testing.assert_allclose(_numpy(hv), dense @ v, rtol=1e-10)

    stats = diagnostics.gradient_curvature(loss_fn, [w])
    np.testing.assert_allclose(_numpy(stats["grad_sq"]), g @ g, rtol=1e-10)
    np.testing.assert_allclose(_numpy(stats["gHg"]), g @ dense @ g, rtol=1e-10)
    np.testing.assert_array_equal(_numpy(w), w0)  # the variables are left as they were


@pytest.mark.reference("diagnostics.top_hessian_eigenvalue")
def test_top_eigenvalue_by_power_iteration(float64):
    a, _ = _quadratic(8, 3)
    w = keras.Variable(np.zeros(8), dtype="float64")
    eig, (vec,) = diagnostics.top_hessian_eigenvalue(
        lambda: 0.5 * ops.sum(w * ops.matmul(a, w)), [w], iterations=500, tol=1e-12
    )
    values, vectors = np.linalg.eigh(a)
    np.testing.assert_allclose(eig, values.max(), rtol=1e-6)
    np.testing.assert_allclose(abs(_numpy(vec) @ vectors[:, -1]), 1.0, rtol=1e-4)


@pytest.mark.reference("diagnostics.hessian_vector_product", "diagnostics.gradient_curvature")
def test_model_loss_curvature_is_least_squares():
    # A linear model under MSE: the Hessian in the kernel is 2 X^T X / n (one output).
    rng = np.random.default_rng(4)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(loss="mse")
    kernel = model.layers[0].kernel
    loss_fn = diagnostics.model_loss_fn(model, x, y)
    v = rng.normal(size=(3, 1)).astype("float32")
    (hv,) = diagnostics.hessian_vector_product(loss_fn, [kernel], [v])
    hessian = 2 * x.T @ x / len(x)
    np.testing.assert_allclose(_numpy(hv), hessian @ v, rtol=1e-5)
    g = 2 * x.T @ (x @ _numpy(kernel) - y) / len(x)
    stats = diagnostics.gradient_curvature(loss_fn, model.trainable_variables)
    np.testing.assert_allclose(_numpy(stats["gHg"]), (g.T @ hessian @ g).item(), rtol=1e-4)


def test_tensorflow_watches_plain_tensors():
    # The second-order methods differentiate a flat tensor, not a variable, on TensorFlow.
    if keras.backend.backend() != "tensorflow":
        pytest.skip("JAX differentiates keras.Variable objects only")
    a, _ = _quadratic(4, 5)
    x, v = ops.convert_to_tensor(np.ones(4)), np.arange(4.0)
    (hv,) = diagnostics.hessian_vector_product(lambda: 0.5 * ops.sum(x * ops.matmul(a, x)), x, v)
    np.testing.assert_allclose(_numpy(hv), a @ v, rtol=1e-10)


def test_jax_needs_keras_variables():
    if keras.backend.backend() != "jax":
        pytest.skip("TensorFlow also watches plain tensors")
    with pytest.raises(TypeError, match=r"Argument `variables`.*Received: variables\[0\]="):
        diagnostics.gradient(lambda: 0.0, [np.ones(2)])
