import keras
import numpy as np
import pytest

from kerasopt.curriculum import callable_scores, confidence_scores, loss_scores

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


def softmax_model():
    return keras.Sequential([keras.Input((4,)), keras.layers.Softmax()])


@pytest.mark.reference(
    "curriculum.loss_scores",
    "curriculum.confidence_scores",
    "curriculum.callable_scores",
)
def test_scores_match_numpy():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(20, 4)).astype("float32")
    y = rng.integers(0, 4, 20)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        loss_scores(softmax_model(), z, y, batch_size=7), -np.log(p[np.arange(20), y]), rtol=1e-5
    )
    np.testing.assert_allclose(
        confidence_scores(softmax_model(), z, y), 1 - p[np.arange(20), y], atol=1e-6
    )
    identity = keras.Sequential([keras.Input((4,)), keras.layers.Identity()])
    np.testing.assert_allclose(
        loss_scores(identity, z, y, outputs="logits"), -np.log(p[np.arange(20), y]), rtol=1e-5
    )
    # both scores order the examples the same way
    np.testing.assert_array_equal(
        np.argsort(loss_scores(softmax_model(), z, y)),
        np.argsort(confidence_scores(softmax_model(), z, y)),
    )
    np.testing.assert_array_equal(
        callable_scores(lambda x, t: x[np.arange(20), t], z, y), z[np.arange(20), y]
    )


def test_bad_arguments_are_named():
    z = np.zeros((5, 4), "float32")
    with pytest.raises(ValueError, match=r"Argument `y` must hold one integer label per example"):
        loss_scores(softmax_model(), z, np.zeros(4, int))
    with pytest.raises(ValueError, match=r"Argument `outputs` must be one of"):
        confidence_scores(softmax_model(), z, np.zeros(5, int), outputs="probs")
    with pytest.raises(TypeError, match=r"Argument `model` must be a keras.Model"):
        loss_scores("model", z, np.zeros(5, int))
    with pytest.raises(TypeError, match=r"Argument `function` must be callable"):
        callable_scores(3, z)
    with pytest.raises(
        ValueError, match=r"Argument `function` must return one finite score per example \(5\)"
    ):
        callable_scores(lambda x: np.zeros(3), z)
