"""Every kerasopt layer: save/load round trip, model.fit, mixed_float16 dtype, tf.data map and XLA
(TensorFlow), argument errors. Portable: CI runs this module on JAX too."""

import keras
import numpy as np
import pytest

from kerasopt.layers import (
    DropConnectConv2D,
    DropConnectDense,
    FlipRotateZoom,
    FractionalMaxPooling2D,
    PCAColorAugmentation,
    RandomResizedCrop,
    StochasticDepth,
)

pytestmark = pytest.mark.portable

SHAPE = (12, 12, 3)


def _residual(inputs, layer):
    return layer([inputs, keras.layers.Conv2D(3, 3, padding="same")(inputs)])


LAYERS = {
    "drop_connect_dense": lambda: DropConnectDense(4, rate=0.3, seed=1),
    "drop_connect_conv": lambda: DropConnectConv2D(4, 3, rate=0.3, seed=1),
    "stochastic_depth": lambda: StochasticDepth(0.6, seed=1),
    "flip_rotate_zoom": lambda: FlipRotateZoom(seed=1),
    "fractional_pooling": lambda: FractionalMaxPooling2D(
        (1.5, 1.3), pseudo_random=False, overlapping=False, seed=1
    ),
    "random_resized_crop": lambda: RandomResizedCrop(
        7, 9, scale=(0.2, 0.9), ratio=(0.5, 2.0), seed=1
    ),
    "pca_color": lambda: PCAColorAugmentation(0.2, seed=1).adapt(
        np.random.default_rng(0).uniform(size=(4,) + SHAPE)
    ),
}


def _apply(name, layer, inputs):
    return _residual(inputs, layer) if name == "stochastic_depth" else layer(inputs)


def _model(name):
    inputs = keras.Input(SHAPE)
    x = _apply(name, LAYERS[name](), inputs)
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(x))
    return keras.Model(inputs, outputs)


def _images(n=3):
    return np.random.default_rng(1).uniform(size=(n,) + SHAPE).astype("float32")


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_save_load_round_trip_identical_inference(name, tmp_path):
    model = _model(name)
    x = _images()
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    for saved, restored in zip(
        model.get_weights(), loaded.get_weights(), strict=True
    ):  # e.g. PCA eigenvectors
        np.testing.assert_array_equal(restored, saved)
    assert type(loaded.layers[-3 if name == "stochastic_depth" else 1]) is type(LAYERS[name]())
    # training-mode calls stay random after loading
    assert not np.array_equal(
        np.asarray(loaded(x, training=True)), np.asarray(loaded(x, training=True))
    )


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_mixed_float16_keeps_input_dtype(name):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = LAYERS[name]()
        x = keras.ops.cast(_images(), "float16")
        for training in (True, False):
            out = (
                layer([x, x], training=training)
                if name == "stochastic_depth"
                else layer(x, training=training)
            )
            assert out.dtype == "float16"
        assert all(w.dtype == "float32" for w in layer.weights)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert keras.mixed_precision.global_policy().name == previous.name


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_model_fit_trains_through_the_layer(name):
    model = _model(name)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    x, y = _images(8), np.random.default_rng(2).normal(size=(8, 2)).astype("float32")
    before = [np.array(w) for w in model.get_weights()]
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.all(np.isfinite(history.history["loss"]))
    changed = [not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True)]
    assert changed[-1]  # the head learned from the layer's outputs
    if name.startswith("drop_connect"):  # the layer's own kernel gets gradients too
        assert changed[0]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.data and tf.function")
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_runs_in_tf_data_map_and_under_jit_compile(name):
    import tensorflow as tf

    layer = LAYERS[name]()

    def augment(x, training=True):
        return (
            layer([x, x], training=training)
            if name == "stochastic_depth"
            else layer(x, training=training)
        )

    x = _images(4)
    eager = np.asarray(augment(x))
    mapped = [np.asarray(b) for b in tf.data.Dataset.from_tensor_slices(x).batch(2).map(augment)]
    assert np.concatenate(mapped).shape == eager.shape
    compiled = tf.function(augment, jit_compile=True)
    a, b = np.asarray(compiled(x)), np.asarray(compiled(x))
    assert a.shape == eager.shape and np.all(np.isfinite(a)) and not np.array_equal(a, b)
    infer = tf.function(lambda x: augment(x, training=False), jit_compile=True)
    np.testing.assert_allclose(
        np.asarray(infer(x)), np.asarray(augment(x, training=False)), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    "factory, message",
    [
        (lambda: DropConnectDense(4, rate=1.0), "rate=1.0"),
        (lambda: DropConnectConv2D(4, 3, rate=-0.1), "rate=-0.1"),
        (lambda: StochasticDepth(0.0), "survival_probability=0.0"),
        (lambda: StochasticDepth(1.5), "survival_probability=1.5"),
        (lambda: FractionalMaxPooling2D(0.5), "pooling_ratio=0.5"),
        (lambda: RandomResizedCrop(0, 8), "height=0"),
        (lambda: RandomResizedCrop(8, -2), "width=-2"),
        (lambda: RandomResizedCrop(8, 8, scale=(0.9, 0.1)), r"scale=\(0.9, 0.1\)"),
        (lambda: RandomResizedCrop(8, 8, scale=(0.5, 1.5)), r"scale=\(0.5, 1.5\)"),
        (lambda: RandomResizedCrop(8, 8, ratio=(2.0, 1.0)), r"ratio=\(2.0, 1.0\)"),
        (lambda: PCAColorAugmentation(stddev=-1.0), "stddev=-1.0"),
        (lambda: PCAColorAugmentation(channels=0), "channels=0"),
        (lambda: FlipRotateZoom(zoom=1.0), "zoom=1.0"),
    ],
)
def test_invalid_arguments_name_argument_and_value(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_non_boolean_flip_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="flip='yes'"):
        FlipRotateZoom(flip="yes")
