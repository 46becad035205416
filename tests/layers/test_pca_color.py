"""PCAColorAugmentation: adapt recovers a known covariance; the shift follows Krizhevsky's rule."""

import keras
import numpy as np
import pytest

from kerasopt.layers import PCAColorAugmentation

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too

EIGENVALUES = np.array([4.0, 1.0, 0.25])


def _rotation(seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q


@pytest.mark.reference("layers.PCAColorAugmentation")
def test_adapt_recovers_eigenvectors_and_eigenvalues_within_sampling_tolerance():
    rng, q, n = np.random.default_rng(1), _rotation(), 60 * 50 * 50
    pixels = rng.multivariate_normal([0.4, 0.5, 0.6], q @ np.diag(EIGENVALUES) @ q.T, size=n)
    layer = PCAColorAugmentation().adapt(pixels.reshape(60, 50, 50, 3).astype("float32"))
    values, vectors = np.asarray(layer.eigenvalues), np.asarray(layer.eigenvectors)
    # Sample eigenvalue of a Gaussian covariance: std ~ lambda sqrt(2 / n).
    assert np.all(np.abs(values - EIGENVALUES) <= 4 * EIGENVALUES * np.sqrt(2 / n))
    # Eigenvector i tilts towards j with std sqrt(l_i l_j / n) / |l_i - l_j| (first-order perturbation).
    for i in range(3):
        spread = np.sqrt(
            sum(
                EIGENVALUES[i] * EIGENVALUES[j] / n / (EIGENVALUES[i] - EIGENVALUES[j]) ** 2
                for j in range(3)
                if j != i
            )
        )
        sin_angle = np.sqrt(max(0.0, 1 - abs(vectors[:, i] @ q[:, i]) ** 2))
        assert sin_angle <= 4 * spread
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(3), atol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.data is TensorFlow's")
def test_adapt_accepts_a_dataset_of_pairs():
    import tensorflow as tf

    x = np.random.default_rng(2).normal(size=(40, 4, 4, 3)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(40))).batch(8)
    a, b = PCAColorAugmentation().adapt(ds), PCAColorAugmentation().adapt(x)
    np.testing.assert_allclose(np.asarray(a.eigenvalues), np.asarray(b.eigenvalues), rtol=1e-5)


def _adapted(stddev=0.1):
    layer = PCAColorAugmentation(stddev=stddev, seed=3)
    q = _rotation()
    layer.eigenvalues.assign(EIGENVALUES.astype("float32"))
    layer.eigenvectors.assign(q.astype("float32"))
    return layer, q


@pytest.mark.reference("layers.PCAColorAugmentation")
def test_training_shift_is_per_image_constant_along_components_with_stddev():
    layer, q = _adapted()
    n = 3000
    x = np.random.default_rng(4).uniform(size=(n, 5, 5, 3)).astype("float32")
    delta = np.asarray(layer(x, training=True)) - x
    assert np.allclose(delta, delta[:, :1, :1, :], atol=1e-5)  # one shift per image
    coefficients = (delta[:, 0, 0, :] @ q) / EIGENVALUES  # a_i = p_i . delta / lambda_i
    # sample std of n N(0, s^2) draws: std error s / sqrt(2 n)
    assert np.all(np.abs(coefficients.std(axis=0) - 0.1) <= 4 * 0.1 / np.sqrt(2 * n))
    assert np.all(np.abs(coefficients.mean(axis=0)) <= 4 * 0.1 / np.sqrt(n))


def test_mean_of_training_outputs_matches_inference_within_4_sigma():
    layer, q = _adapted(stddev=0.5)
    x, draws = np.random.default_rng(5).uniform(size=(1, 3, 3, 3)).astype("float32"), 400
    # one call on `draws` copies: each copy gets its own independent draw
    mean = np.asarray(layer(np.repeat(x, draws, axis=0), training=True)).mean(axis=0, keepdims=True)
    # per channel c: Var(delta_c) = stddev^2 sum_i lambda_i^2 q_ci^2
    sigma = 0.5 * np.sqrt((q**2 * EIGENVALUES**2).sum(axis=1) / draws)
    inference = np.asarray(layer(x))
    np.testing.assert_array_equal(inference, x)
    assert np.all(np.abs(mean - inference) <= 4 * sigma)
