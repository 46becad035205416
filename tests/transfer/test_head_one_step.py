"""A head fit of one step (one epoch, one batch) runs, and its step is Adam's first step at the
peak rate (Kingma & Ba, 2015: m_hat = g, v_hat = g^2): |change| = rate |g| / (|g| + eps'),
with Keras' eps' = 1e-7 / sqrt(1 - beta_2) = 3.2e-6, so within 1% of the rate below it for any
|g| above 3.2e-4 (a gradient of random features and a fresh head is far above that)."""

import keras
import numpy as np

from kerasopt.transfer import build_classifier
from kerasopt.transfer.features import head_model
from kerasopt.transfer.head import train_head_on_features


def test_a_one_step_head_fit_takes_adams_first_step_at_the_peak_rate():
    base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)], name="base")
    model = build_classifier(base, n_classes=3, dropout=0.0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 4)).astype("float32"), np.array([0, 1, 2, 0, 1, 2])
    keras.utils.set_random_seed(0)  # the same draw as the fit's new head below
    start = [w.copy() for w in head_model(4, 3, 0.0).get_layer("head").get_weights()]
    keras.utils.set_random_seed(0)
    history, metrics = train_head_on_features(model, (x, y), (x, y), 0.05, epochs=1, batch_size=8)
    assert metrics["epochs"] == 1 and len(history["loss"]) == 1
    for before, after in zip(start, model.get_layer("head").get_weights(), strict=True):
        change = np.abs(after - before)
        assert np.all(change <= 0.05 * (1 + 1e-6)) and np.all(change >= 0.05 * 0.99), change
