"""The test-split report, the smoothed loss and the budget planner against independent
references (scikit-learn, NumPy)."""

import keras
import numpy as np
import pytest
from sklearn.metrics import log_loss, precision_recall_fscore_support

from kerasopt.transfer.budget import MIN_PARTIAL_EPOCH, StepLimit, StepPlan, plan_steps
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


def _most_steps_by_enumeration(max_epochs, remaining, step, per_epoch, val):
    """The rule restated as a search: the largest step count t <= max_epochs * per_epoch whose
    cost, t steps plus one validation pass per epoch begun (ceil(t / per_epoch)), fits in
    `remaining`; a last epoch begun with fewer than MIN_PARTIAL_EPOCH of its steps is dropped."""
    best = 0
    for t in range(max_epochs * per_epoch + 1):
        if t * step + -(-t // per_epoch) * val <= remaining:
            best = t
    if 0 < best % per_epoch < MIN_PARTIAL_EPOCH * per_epoch:
        best -= best % per_epoch
    return StepPlan(-(-best // per_epoch), best)


@pytest.mark.reference("transfer.plan_steps", "transfer.StepPlan")
@pytest.mark.parametrize(
    "remaining", [-5.0, 0.0, 7.5, 8.0, 10.0, 11.0, 13.0, 45.0, 79.5, 80.0, 1e6]
)
@pytest.mark.parametrize("max_epochs", [0, 3, 100])
def test_plan_steps_is_the_most_steps_that_fit(remaining, max_epochs):
    # epoch = 12 steps * 0.5 s + 2 s validation = 8 s (binary-exact numbers: no rounding)
    expected = _most_steps_by_enumeration(max_epochs, remaining, 0.5, 12, 2.0)
    assert plan_steps(max_epochs, remaining, 0.5, 12, 2.0) == expected
    assert plan_steps(max_epochs, float("inf"), 0.5, 12, 2.0) == (max_epochs, 12 * max_epochs)
    with pytest.raises(ValueError, match="Argument `step_seconds`.*Received: step_seconds=0"):
        plan_steps(3, 10.0, 0, 12, 2.0)


@pytest.mark.reference("transfer.StepLimit")
def test_step_limit_stops_at_the_phase_step_also_when_resumed():
    # 4 steps per epoch; the phase starts at Keras epoch 2 and may take 10 steps: a fit from its
    # first epoch runs 4 + 4 + 2 steps; one resumed at its second epoch (epoch 3) runs 4 + 2.
    def run(initial_epoch):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        history = model.fit(np.zeros((8, 2)), np.zeros(8), batch_size=2, epochs=10, verbose=0,
                            initial_epoch=initial_epoch,
                            callbacks=[StepLimit(10, steps_per_epoch=4, first_epoch=2)])  # fmt: skip
        return len(history.history["loss"]), int(model.optimizer.iterations)

    assert run(2) == (3, 10)
    assert run(3) == (2, 6)
    config = StepLimit(10, 4, 2).get_config()
    assert config == {"steps": 10, "steps_per_epoch": 4, "first_epoch": 2}
    assert StepLimit(**config).get_config() == config  # the round trip
    with pytest.raises(ValueError, match="Argument `steps`.*Received: steps=0"):
        StepLimit(0, 4)
