import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.transfer import (
    backbone,
    discriminative_optimizer,
    freeze,
    unfreeze,
    unfreeze_fraction,
)


def _base():
    return backbone("mobilenet", weights=None, input_shape=(32, 32, 3), alpha=0.25)


def _trainable_layers(model):
    return {layer.name for layer in model.layers if layer.trainable and layer.weights}


def test_freeze_leaves_nothing_trainable():
    base = freeze(_base())
    assert base.trainable_weights == [] and len(base.non_trainable_weights) == len(base.weights)


@pytest.mark.parametrize("n", [0, 1, 10, 40])
@pytest.mark.reference("transfer.unfreeze", "transfer.freeze")
def test_unfreeze_top_n_trains_exactly_those_layers(n):
    base = freeze(_base())
    names = unfreeze(base, top_n_layers=n)
    expected = {
        layer.name
        for layer in base.layers[len(base.layers) - n :]
        if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)
    }
    assert set(names) == expected == _trainable_layers(base)
    trainable_vars = {id(v) for v in base.trainable_weights}
    assert trainable_vars == {
        id(v) for layer in base.layers if layer.name in expected for v in layer.trainable_weights
    }
    assert all(
        not bn.trainable for bn in base.layers if isinstance(bn, keras.layers.BatchNormalization)
    )


@pytest.mark.reference("transfer.unfreeze_fraction")
def test_unfreeze_from_layer_and_fraction():
    base = _base()
    names = [layer.name for layer in base.layers]
    start = names.index("conv_dw_12")
    unfreeze(base, from_layer="conv_dw_12")
    expected = {
        layer.name
        for layer in base.layers[start:]
        if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)
    }
    assert _trainable_layers(base) == expected
    assert "conv_dw_12" in expected and "conv_pw_11" not in expected
    unfreeze_fraction(base, 0.5)
    half = base.layers[len(base.layers) - round(0.5 * len(base.layers)) :]
    assert _trainable_layers(base) == {
        layer.name
        for layer in half
        if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)
    }


def test_unfreeze_argument_validation():
    base = _base()
    with pytest.raises(ValueError, match="Exactly one"):
        unfreeze(base)
    with pytest.raises(ValueError, match="Exactly one"):
        unfreeze(base, top_n_layers=2, from_layer="conv1")
    with pytest.raises(ValueError, match="Argument `from_layer`.*nope"):
        unfreeze(base, from_layer="nope")
    with pytest.raises(ValueError, match="Argument `top_n_layers`"):
        unfreeze(base, top_n_layers=len(base.layers) + 1)
    with pytest.raises(ValueError, match="Argument `fraction`"):
        unfreeze_fraction(base, 1.5)


def _two_part_model():
    base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="bb_dense")], name="bb")
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2, name="head")(base(inputs))
    return base, keras.Model(inputs, outputs)


@pytest.mark.reference("transfer.discriminative_optimizer")
def test_discriminative_rates_match_sgd_rule():
    """One step: each variable moves by -lr * grad, lr = 0.1 for the head and 0.01 for the backbone."""
    base, model = _two_part_model()
    opt = discriminative_optimizer(
        model, base, keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.01)
    )
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x) ** 2)
    grads = tape.gradient(loss, model.trainable_variables)
    before = [v.numpy().copy() for v in model.trainable_variables]
    opt.apply(grads, model.trainable_variables)
    backbone_ids = {id(v) for v in base.trainable_variables}
    for v, w0, g in zip(model.trainable_variables, before, grads, strict=True):
        lr = 0.01 if id(v) in backbone_ids else 0.1
        np.testing.assert_allclose(v.numpy(), w0 - lr * g.numpy(), rtol=1e-6, atol=1e-7)


def test_discriminative_optimizer_saves_with_the_model(tmp_path):
    base, model = _two_part_model()
    model.compile(
        discriminative_optimizer(
            model, base, keras.optimizers.Adam(0.1), keras.optimizers.Adam(0.01)
        ),
        "mse",
    )
    x = np.random.default_rng(1).normal(size=(8, 4)).astype("float32")
    y = np.random.default_rng(2).normal(size=(8, 2)).astype("float32")
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_discriminative_optimizer_needs_the_backbone_inside():
    base, model = _two_part_model()
    other, _ = _two_part_model()
    with pytest.raises(ValueError, match="Argument `backbone`"):
        discriminative_optimizer(model, other, keras.optimizers.SGD(), keras.optimizers.SGD())


def _frozen_bottom_model():
    """A backbone of two Dense layers with the lower one frozen by `freeze` + `unfreeze`."""
    base = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(5, activation="tanh", name="bb_low"),
            keras.layers.Dense(3, name="bb_top"),
        ],
        name="bb",
    )
    freeze(base)
    unfreeze(base, top_n_layers=1)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(base(inputs)))
    return base, model


def _train_frozen_bottom(initial, x, y):
    base, model = _frozen_bottom_model()
    model.set_weights(initial)
    model.compile(
        discriminative_optimizer(
            model, base, keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.01)
        ),
        "mse",
    )
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    return base, model


def test_discriminative_training_under_mirrored_strategy(strategy):
    """Two replicas of 4 examples (gradients summed): the frozen layer keeps its weights bit
    for bit, and the trained ones end where the same training on one device ends."""
    x = np.random.default_rng(3).normal(size=(16, 4)).astype("float32")
    y = np.random.default_rng(4).normal(size=(16, 2)).astype("float32")
    initial = [w.copy() for w in _frozen_bottom_model()[1].get_weights()]
    one_base, one_device = _train_frozen_bottom(initial, x, y)
    with strategy.scope():
        base, mirrored = _train_frozen_bottom(initial, x, y)
    frozen = base.get_layer("bb_low")
    assert not frozen.trainable and frozen.weights
    assert {v.path for v in mirrored.trainable_variables} == {
        v.path for v in one_device.trainable_variables
    }
    assert all("bb_low" not in v.path for v in mirrored.trainable_variables)
    start = {v.path: w for v, w in zip(one_device.weights, initial, strict=True)}
    assert len(start) == len(initial) == 6  # paths name the weights uniquely
    for v in frozen.weights:
        np.testing.assert_array_equal(v.numpy(), start[v.path])
    reference = {v.path: v.numpy() for v in one_device.weights}
    for v in mirrored.trainable_variables:
        assert not np.allclose(v.numpy(), start[v.path])  # trained
        np.testing.assert_allclose(v.numpy(), reference[v.path], atol=1e-6, rtol=0)


def test_head_layer_named_like_a_backbone_layer_is_refused():
    base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense_a")], name="bb")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="dense_a")(base(inputs)))
    with pytest.raises(ValueError, match="head layers named like backbone layers"):
        discriminative_optimizer(model, base, keras.optimizers.SGD(), keras.optimizers.SGD())
