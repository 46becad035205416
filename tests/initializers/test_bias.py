"""prior_bias: with a zero kernel the model predicts the label marginals or the target mean."""

import keras
import numpy as np
import pytest

from kerasopt.initializers import PriorBias, prior_bias

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


def _zero_kernel_model(units, activation, bias):
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(
                units,
                activation=activation,
                kernel_initializer="zeros",
                bias_initializer=PriorBias(bias),
            ),
        ]
    )
    x = np.random.default_rng(0).normal(size=(7, 5)).astype("float32")
    return np.asarray(model(x), dtype="float64")


@pytest.mark.reference("initializers.PriorBias", "initializers.prior_bias")
def test_softmax_predicts_class_frequencies():
    y = np.array([0] * 50 + [1] * 30 + [2] * 15 + [3] * 5)
    pred = _zero_kernel_model(4, "softmax", prior_bias(y, "softmax"))
    np.testing.assert_allclose(pred, np.tile([0.5, 0.3, 0.15, 0.05], (7, 1)), atol=1e-6)


def test_softmax_from_one_hot():
    y = keras.utils.to_categorical([2, 2, 1, 0, 2, 1], 3)
    pred = _zero_kernel_model(3, "softmax", prior_bias(y, "softmax"))
    np.testing.assert_allclose(pred[0], [1 / 6, 2 / 6, 3 / 6], atol=1e-6)


@pytest.mark.reference("initializers.PriorBias", "initializers.prior_bias")
def test_sigmoid_predicts_label_frequencies():
    rng = np.random.default_rng(1)
    y = (rng.random((400, 3)) < [0.1, 0.5, 0.8]).astype("float32")
    pred = _zero_kernel_model(3, "sigmoid", prior_bias(y, "sigmoid"))
    np.testing.assert_allclose(pred, np.tile(y.mean(axis=0), (7, 1)), atol=1e-6)


def test_linear_predicts_target_mean():
    y = np.random.default_rng(2).normal(loc=[3.0, -1.0], scale=2.0, size=(100, 2))
    pred = _zero_kernel_model(2, "linear", prior_bias(y, "linear"))
    np.testing.assert_allclose(pred, np.tile(y.mean(axis=0), (7, 1)), atol=1e-5)


def test_absent_class_gets_a_finite_bias():
    bias = prior_bias(np.array([0, 0, 2]), "softmax")
    assert bias.shape == (3,) and np.all(np.isfinite(bias))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: prior_bias([0, 1], "relu"), "activation='relu'"),
        (lambda: prior_bias([0, -1], "softmax"), "min=-1"),
        (lambda: prior_bias([0.5, 2.0], "sigmoid"), "max=2.0"),
        (lambda: prior_bias([], "linear"), "shape=\\(0,\\)"),
        (lambda: PriorBias([]), "values=\\[\\]"),
        (lambda: PriorBias([1.0, float("inf")]), "values="),
        (lambda: PriorBias([1.0, 2.0])((3,)), "shape=\\(3,\\)"),
    ],
)
def test_invalid_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
