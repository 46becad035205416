"""mc_predict: MC mean/std against the closed form of a dropout-linear model; BN left untouched."""

import keras
import numpy as np
import pytest

from kerasopt.layers import mc_predict

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too

RATE = 0.4


@pytest.mark.reference("layers.mc_predict")
def test_mc_mean_and_std_match_closed_form_and_batchnorm_is_untouched():
    inputs = keras.Input((6,))
    normed = keras.layers.BatchNormalization()(inputs)
    dropped = keras.layers.Dropout(RATE, seed=1)(normed)
    model = keras.Model(inputs, keras.layers.Dense(2, use_bias=False)(dropped))
    x = np.random.default_rng(0).normal(size=(3, 6)).astype("float32")
    bn = model.layers[1]
    bn.moving_mean.assign(np.full(6, 0.3, "float32"))
    samples = 400
    mean, std = mc_predict(model, x, samples=samples, batch_size=2)
    # BN in inference mode: z = (x - 0.3) / sqrt(1 + eps); y_j = sum_i z_i m_i / (1-p) W_ij.
    np.testing.assert_array_equal(np.asarray(bn.moving_mean), np.full(6, 0.3, "float32"))
    assert bn.trainable
    z = (x - 0.3) / np.sqrt(1 + bn.epsilon)
    kernel = np.asarray(model.layers[-1].kernel)
    exact_mean = z @ kernel
    # y_j = sum_i c_ij b_i with c_ij = z_i W_ij / q, b_i = m_i - q ~ centred Bernoulli(q = 1 - p).
    q = 1 - RATE
    c = z[:, :, None] * kernel[None] / q
    var_b, mu4_b = q * (1 - q), q * (1 - q) * ((1 - q) ** 3 + q**3)
    var = (c**2).sum(axis=1) * var_b
    exact_std = np.sqrt(var)
    mu4 = (c**4).sum(axis=1) * mu4_b + 3 * (var**2 - ((c**4).sum(axis=1) * var_b**2))
    assert np.all(np.abs(mean - exact_mean) <= 4 * exact_std / np.sqrt(samples))
    # sample std of n draws: Var(s) ~ (mu4 - sigma^4) / (4 n sigma^2) (delta method)
    assert np.all(np.abs(std - exact_std) <= 4 * np.sqrt((mu4 - var**2) / (4 * samples * var)))


def test_rejects_bad_samples():
    with pytest.raises(ValueError, match="samples=1"):
        mc_predict(keras.Sequential([keras.layers.Dense(1)]), np.zeros((1, 1)), samples=1)
