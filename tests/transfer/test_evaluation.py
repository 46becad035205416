"""The test-split report, the smoothed loss and the budget planner against independent
references (scikit-learn, NumPy)."""

import keras
import numpy as np
import pytest
from sklearn.metrics import log_loss, precision_recall_fscore_support

from kerasopt.transfer.budget import plan_epochs
from kerasopt.transfer.evaluation import classification_report
from kerasopt.transfer.losses import SparseSmoothedCrossentropy

pytestmark = pytest.mark.portable


@pytest.mark.reference("transfer.classification_report")
def test_classification_report_matches_scikit_learn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 200)
    probs = rng.dirichlet(np.ones(4), 200)
    probs[np.arange(100), labels[:100]] += 2.0  # half of them right, on purpose
    probs /= probs.sum(axis=1, keepdims=True)
    names = ["a", "b", "c", "d"]
    report = classification_report(probs, labels, names)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, probs.argmax(1), labels=range(4), zero_division=0
    )
    for c, name in enumerate(names):
        got = report["per_class"][name]
        assert got["precision"] == pytest.approx(precision[c], abs=1e-4)
        assert got["recall"] == pytest.approx(recall[c], abs=1e-4)
        assert got["f1"] == pytest.approx(f1[c], abs=1e-4)
        assert got["support"] == support[c]
    assert report["accuracy"] == pytest.approx((probs.argmax(1) == labels).mean(), abs=1e-4)
    assert report["loss"] == pytest.approx(log_loss(labels, probs, labels=range(4)), abs=1e-4)
    matrix = np.array(report["confusion_matrix"])
    off = [(matrix[i, j], names[i], names[j]) for i in range(4) for j in range(4) if i != j]
    top = sorted(off, key=lambda t: -t[0])[0]
    assert report["most_confused"][0] == [top[1], top[2], int(top[0])]
    counts = [count for _, _, count in report["most_confused"]]
    assert counts == sorted(counts, reverse=True) and len(counts) == 5


@pytest.mark.reference("transfer.SparseSmoothedCrossentropy")
def test_smoothed_loss_matches_the_formula_and_round_trips():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(5), 16).astype("float32")
    labels = rng.integers(0, 5, 16)
    eps = 0.2
    target = np.full((16, 5), eps / 5)
    target[np.arange(16), labels] += 1 - eps
    expected = -(target * np.log(probs)).sum(axis=1).mean()
    loss = SparseSmoothedCrossentropy(eps)
    assert float(loss(labels, probs)) == pytest.approx(expected, rel=1e-5)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(again, SparseSmoothedCrossentropy) and again.label_smoothing == eps
    plain = SparseSmoothedCrossentropy(0.0)(labels, probs)
    ref = keras.losses.SparseCategoricalCrossentropy()(labels, probs)
    assert float(plain) == pytest.approx(float(ref), rel=1e-5)
    with pytest.raises(ValueError, match="Argument `label_smoothing`"):
        SparseSmoothedCrossentropy(1.0)


@pytest.mark.reference("transfer.plan_epochs")
def test_plan_epochs_is_the_whole_epochs_that_fit():
    # epoch = 12 steps * 0.5 s + 2 s validation = 8 s
    assert plan_epochs(100, 80.0, 0.5, 12, 2.0) == 10
    assert plan_epochs(100, 79.9, 0.5, 12, 2.0) == 9
    assert plan_epochs(3, 80.0, 0.5, 12, 2.0) == 3
    assert plan_epochs(3, -5.0, 0.5, 12, 2.0) == 0
