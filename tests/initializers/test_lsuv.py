"""LSUV (Mishkin & Matas 2015): every layer's output variance within tol of the target."""

import keras
import numpy as np
import pytest

from kerasopt.initializers import lsuv

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


def _affine_variances(model, x):
    """Variance of each Dense/Conv layer's pre-activation, recomputed independently in NumPy
    from the layer's input (taken from a feature model), kernel and bias."""
    out = []
    for layer in model.layers:
        if not isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)):
            continue
        inputs = np.asarray(keras.Model(model.inputs[0], layer.input)(x), dtype="float64")
        kernel, bias = (np.asarray(w, dtype="float64") for w in layer.get_weights())
        if isinstance(layer, keras.layers.Dense):
            z = inputs @ kernel + bias
        else:  # "valid" 3x3 convolution, stride 1, as a sum over taps
            kh, kw = kernel.shape[:2]
            h, w = inputs.shape[1] - kh + 1, inputs.shape[2] - kw + 1
            z = (
                sum(
                    inputs[:, i : i + h, j : j + w, :] @ kernel[i, j]
                    for i in range(kh)
                    for j in range(kw)
                )
                + bias
            )
        out.append(z.var())
    return out


def _mlp():
    layers = [keras.Input((64,))] + [keras.layers.Dense(48, activation="relu") for _ in range(9)]
    return keras.Sequential(layers + [keras.layers.Dense(10, activation="softmax")])


def _cnn():
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    h = keras.layers.Conv2D(16, 3, activation="relu")(h)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(10, activation="softmax")(h)
    return keras.Model(inputs, outputs)


def _digits():
    from kerasopt.datasets import digits

    x, _ = digits()
    return x[:256] / 16.0


@pytest.mark.parametrize("build, reshape", [(_mlp, (-1, 64)), (_cnn, (-1, 8, 8, 1))])
@pytest.mark.reference("initializers.lsuv")
def test_every_layer_variance_within_tol(build, reshape):
    model = build()
    x = _digits().reshape(reshape).astype("float32")
    report = lsuv(model, x, target_variance=1.0, tol=0.05)
    variances = _affine_variances(model, x)
    assert len(report) == len(variances) == (10 if build is _mlp else 3)
    for row, var in zip(report, variances, strict=True):
        assert row["converged"]
        assert abs(var - 1.0) < 0.05
        assert row["variance"] == pytest.approx(var, rel=1e-4)


@pytest.mark.parametrize("activation, target", [("relu", 1.0), ("tanh", 0.4)])  # Var(tanh(.)) < 1
@pytest.mark.reference("initializers.lsuv")
def test_measure_output_after_activation(activation, target):
    # 10 Dense layers with the activation fused; each layer's returned output, recomputed
    # in NumPy, has variance within tol.
    model = keras.Sequential(
        [keras.Input((64,))] + [keras.layers.Dense(48, activation=activation) for _ in range(10)]
    )
    x = _digits().reshape(-1, 64).astype("float32")
    report = lsuv(model, x, target_variance=target, tol=0.05, max_iter=20, measure="output")
    phi = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh}[activation]
    h = x.astype("float64")
    for layer, row in zip(model.layers, report, strict=True):
        kernel, bias = (np.asarray(w, dtype="float64") for w in layer.get_weights())
        h = phi(h @ kernel + bias)
        assert row["converged"] and abs(h.var() - target) < 0.05


def test_target_variance_other_than_one_with_bias():
    model = _mlp()
    for layer in model.layers:
        layer.bias.assign(np.full(layer.bias.shape, 0.1, dtype="float32"))
    x = _digits().reshape(-1, 64).astype("float32")
    lsuv(model, x, target_variance=2.0, tol=0.02, max_iter=20)
    assert all(abs(v - 2.0) < 0.02 for v in _affine_variances(model, x))


def test_invalid_arguments():
    model = _mlp()
    x = np.zeros((4, 64), dtype="float32")
    with pytest.raises(ValueError, match="tol=0"):
        lsuv(model, x, tol=0)
    with pytest.raises(ValueError, match="target_variance=-1"):
        lsuv(model, x, target_variance=-1)
    with pytest.raises(ValueError, match="max_iter=0"):
        lsuv(model, x, max_iter=0)
    with pytest.raises(ValueError, match="measure='post'"):
        lsuv(model, x, measure="post")
    with pytest.raises(ValueError, match="model="):
        lsuv("not a model", x)
