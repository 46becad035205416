"""`train_head_on_features` against scikit-learn's logistic regression on the same features."""

import keras
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from kerasopt.transfer import build_classifier
from kerasopt.transfer.head import train_head_on_features


def _classifier(n_classes):
    base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)], name="base")
    return build_classifier(base, n_classes=n_classes)


@pytest.mark.portable
@pytest.mark.parametrize("seed", [0, 2])
@pytest.mark.reference("transfer.train_head_on_features")
def test_head_matches_logistic_regression_on_separable_features(seed):
    # 44 samples, batch 8: a ragged last batch of 4, the case a fixed order trained badly.
    rng = np.random.default_rng(seed)
    y = np.arange(44) % 2
    x = (rng.normal(size=(44, 4)) + 3 * y[:, None]).astype("float32")
    reference = LogisticRegression().fit(x, y).score(x, y)
    keras.utils.set_random_seed(seed)
    _, metrics = train_head_on_features(_classifier(2), (x, y), (x, y), 0.1, batch_size=8)
    assert reference == 1.0
    assert metrics["train_accuracy"] == reference


@pytest.mark.portable
def test_head_with_class_weights_learns_the_minority_class():
    rng = np.random.default_rng(1)
    y = (np.arange(48) % 4 == 0).astype("int64")  # 12 of 48 in class 1
    x = (rng.normal(size=(48, 4)) + 2.5 * y[:, None]).astype("float32")
    reference = LogisticRegression(class_weight="balanced").fit(x, y).score(x, y)
    keras.utils.set_random_seed(1)
    _, metrics = train_head_on_features(
        _classifier(2), (x, y), (x, y), 0.1, batch_size=8, class_weight={0: 1.0, 1: 3.0}
    )
    assert metrics["train_accuracy"] >= reference - 1 / 48
