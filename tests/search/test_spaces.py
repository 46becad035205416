"""Search spaces: the declared hyperparameters (log rates, conditions) and the objects built."""

import keras
import keras_tuner as kt
import pytest

from kerasopt.optimizers import Averaged, DeltaBarDelta, Lookahead, RMSpropNesterov
from kerasopt.schedules import LinearDecay, OneCycle
from kerasopt.search import spaces


def declared(hp):
    return {h.name: h for h in hp.space}


@pytest.mark.parametrize(
    "name, cls",
    [
        ("adam", keras.optimizers.Adam),
        ("sgd", keras.optimizers.SGD),
        ("rmsprop_nesterov", RMSpropNesterov),
        ("delta_bar_delta", DeltaBarDelta),
    ],
)
def test_optimizer_space(name, cls):
    hp = kt.HyperParameters()
    hp.Fixed("optimizer", name)
    opt = spaces.optimizer(hp, learning_rate_range=(1e-3, 1e-1), weight_decay_range=(1e-6, 1e-2))
    assert type(opt) is cls
    space = declared(hp)
    assert (
        space[f"{name}_learning_rate"].sampling == "log" and space["weight_decay"].sampling == "log"
    )
    assert [k for k in hp.values if k.endswith("_learning_rate")] == [f"{name}_learning_rate"]
    assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(1e-3)
    assert opt.weight_decay == pytest.approx(1e-6)
    assert ("momentum" in hp.values) == (name == "sgd")  # conditional on the choice
    clone = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert type(clone) is cls


@pytest.mark.parametrize(
    "name, cls", [("none", keras.optimizers.SGD), ("averaged", Averaged), ("lookahead", Lookahead)]
)
def test_wrapper_space(name, cls):
    hp = kt.HyperParameters()
    hp.Fixed("wrapper", name)
    assert type(spaces.wrapper(hp, keras.optimizers.SGD(0.1))) is cls
    assert ("lookahead_sync_period" in hp.values) == (name == "lookahead")
    assert ("average_method" in hp.values) == (name == "averaged")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("one_cycle", OneCycle),
        ("linear", LinearDecay),
        ("cosine", keras.optimizers.schedules.CosineDecay),
        ("constant", float),
    ],
)
def test_schedule_space(name, expected):
    hp = kt.HyperParameters()
    hp.Fixed("schedule", name)
    assert isinstance(spaces.schedule(hp, 0.1, 100), expected)


def test_finetune_space_and_bad_arguments():
    hp = kt.HyperParameters()
    values = spaces.finetune(hp, head_learning_rate=(1e-4, 1e-2))
    assert values["head_learning_rate"] == pytest.approx(1e-4)
    assert declared(hp)["finetune_learning_rate"].sampling == "log"
    with pytest.raises(ValueError, match="Argument `choices`"):
        spaces.optimizer(kt.HyperParameters(), choices=["adamw"])
    with pytest.raises(ValueError, match="Argument `head_learning_rate`"):
        spaces.finetune(kt.HyperParameters(), head_learning_rate=(1e-2, 1e-4))
