import math

import numpy as np
import pytest

from kerasopt.transfer import PRESETS, FineTuneStrategy, choose_strategy, preset, warmup_cosine

pytestmark = pytest.mark.portable


@pytest.mark.parametrize(
    "similarity, n_train, name",
    [
        ("similar", 245, "top"),
        ("similar", 50_000, "several"),
        ("different", 245, "several"),
        ("different", 50_000, "many"),
    ],
)
@pytest.mark.reference("transfer.choose_strategy", "transfer.FineTuneStrategy")
def test_course_table(similarity, n_train, name):
    assert choose_strategy(similarity, n_train) == PRESETS[name]


def test_more_data_unfreezes_more():
    for similarity in ("similar", "different"):
        small = choose_strategy(similarity, 100)
        large = choose_strategy(similarity, 100_000)
        assert large.unfreeze_fraction > small.unfreeze_fraction


@pytest.mark.reference("transfer.preset")
def test_threshold_and_overrides():
    assert choose_strategy("similar", 9_999).name == "top"
    assert choose_strategy("similar", 10_000).name == "several"
    assert choose_strategy("similar", 500, large_threshold=500).name == "several"
    s = choose_strategy("similar", 100, epochs_finetune=0)
    assert s.epochs_finetune == 0 and not s.fine_tunes
    custom = FineTuneStrategy("mine", 0.5, 1, 1)
    table = {(a, b): custom for a in ("similar", "different") for b in ("small", "large")}
    assert choose_strategy("different", 10, table=table) == custom
    assert preset("many", epochs_head=1).epochs_head == 1


def test_validation():
    with pytest.raises(ValueError, match="Argument `similarity`"):
        choose_strategy("close", 100)
    with pytest.raises(ValueError, match="Argument `n_train`"):
        choose_strategy("similar", 0)
    with pytest.raises(TypeError, match="Unknown FineTuneStrategy fields"):
        choose_strategy("similar", 100, learning_rate=1.0)
    with pytest.raises(ValueError, match="Argument `unfreeze_fraction`"):
        FineTuneStrategy("x", 1.5, 1, 1)
    with pytest.raises(ValueError, match="Argument `backbone_lr_factor`"):
        FineTuneStrategy("x", 0.5, 1, 1, backbone_lr_factor=0.0)
    with pytest.raises(ValueError, match="Argument `name`"):
        preset("everything")


@pytest.mark.reference("transfer.warmup_cosine")
def test_warmup_cosine_closed_form():
    peak, total, fraction = 1e-3, 100, 0.1
    schedule = warmup_cosine(peak, total, fraction)
    warm = 10
    for step in (0, 5, 10, 40, 70, 99):
        if step < warm:
            expected = peak * step / warm
        else:
            expected = peak * 0.5 * (1 + math.cos(math.pi * (step - warm) / (total - warm)))
        np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-5, atol=1e-10)
