"""Phase 2 on cached activations (`kerasopt.transfer.cached_top`): the split computes the
classifier's own function. (A whole run on cached activations, its export and its frozen
bottom: tests/transfer/test_finetune.py, whose run trains on them by default.)"""

import keras
import numpy as np
import pytest

from kerasopt.transfer import build_classifier
from kerasopt.transfer.cached_top import split_classifier
from kerasopt.transfer.freezing import unfreeze_fraction


@pytest.mark.portable
def test_split_reproduces_the_classifier_at_every_cut():
    """MobileNetV2 (residual blocks: not every layer boundary is a cut): for each unfrozen
    fraction the top on the bottom's output equals the classifier (float32 rounding only),
    every trainable weight is in the top, and the bottom holds only frozen layers."""
    base = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(64, 64, 3), alpha=0.35
    )
    model = build_classifier(base, 3)
    x = np.random.default_rng(0).uniform(0, 255, (3, 80, 70, 3)).astype("float32")
    expected = np.asarray(model(x))
    for fraction in (0.1, 0.3, 0.5):
        unfreeze_fraction(base, fraction)
        split = split_classifier(model, base)
        np.testing.assert_allclose(split.top(split.bottom(x)), expected, atol=1e-6)
        assert {id(v) for v in model.trainable_weights} == {
            id(v) for v in split.top.trainable_weights
        }
        assert not split.bottom.trainable_weights
    unfreeze_fraction(base, 1.0)
    assert split_classifier(model, base) is None  # nothing frozen below: nothing to cache
