"""`average_models` against NumPy: the ensemble's prediction is the mean of the members'
softmax probabilities (or of their logits), computed from the members' own weights."""

import keras
import numpy as np
import pytest

from kerasopt.ensembles import average_models

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


def _members(n=3, outputs="logits"):
    rng = np.random.default_rng(0)
    members = []
    for i in range(n):
        activation = "softmax" if outputs == "probabilities" else None
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(3, activation=activation)], name=f"m{i}"
        )
        kernel, bias = rng.normal(size=(4, 3)), rng.normal(size=3)
        model.layers[0].set_weights([kernel.astype("float32"), bias.astype("float32")])
        members.append((model, kernel, bias))
    return members


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)


@pytest.mark.reference("ensembles.average_models")
@pytest.mark.parametrize(
    "combine, member_outputs",
    [
        ("mean_probabilities", "probabilities"),
        ("mean_probabilities", "logits"),
        ("mean_logits", "logits"),
        ("mean_logits", "probabilities"),
    ],
)
def test_prediction_is_the_numpy_mean_of_the_members(combine, member_outputs):
    members = _members(outputs=member_outputs)
    x = np.random.default_rng(1).normal(size=(5, 4))
    logits = [x @ kernel + bias for _, kernel, bias in members]
    if combine == "mean_probabilities":
        expected = np.mean([_softmax(z) for z in logits], axis=0)
    elif member_outputs == "logits":
        expected = np.mean(logits, axis=0)
    else:  # log-probabilities averaged: the geometric mean's logits
        expected = np.mean([np.log(_softmax(z)) for z in logits], axis=0)
    ensemble = average_models(
        [m for m, _, _ in members], combine=combine, member_outputs=member_outputs
    )
    got = ensemble.predict(x.astype("float32"), verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
