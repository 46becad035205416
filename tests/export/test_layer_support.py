"""Each kerasopt layer in a model exported to ONNX and LiteRT: the inference form, within 1e-4
of Keras' `predict` (which runs every layer in inference mode), or a named failure."""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt import layers as kl
from kerasopt.export import (
    LAYER_SUPPORT,
    ExportError,
    export_litert,
    export_onnx,
    load_predictor,
    support_table,
)
from tests.export._models import raw_images


def _head(x):
    x = keras.layers.Conv2D(4, 3, name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.layers.Dense(3, activation="softmax", name="head")(x)


def _model(body):
    """Raw images of any size -> resize 16x16 -> scale to [0, 1] -> `body` -> probabilities."""
    keras.utils.set_random_seed(0)
    images = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(1 / 255)(keras.layers.Resizing(16, 16)(images))
    return keras.Model(images, body(x))


def _drop_connect(x):
    x = kl.DropConnectConv2D(4, 3, rate=0.5, name="dc_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return kl.DropConnectDense(3, rate=0.5, activation="softmax", name="dc_dense")(x)


def _stochastic_depth(x):
    branch = keras.layers.Conv2D(3, 3, padding="same")(x)
    return _head(kl.StochasticDepth(0.5, name="sd")([x, branch]))


def _pca(x):
    layer = kl.PCAColorAugmentation(stddev=0.5, name="pca")
    layer.adapt(np.random.default_rng(0).uniform(0, 1, (8, 8, 8, 3)).astype("float32"))
    return _head(layer(x))


def _tta(x):
    core = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            keras.layers.Conv2D(4, 3),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ],
        name="core",
    )
    return kl.TestTimeAugmentation(core, mode="ten_crop", crop_size=12, name="tta")(x)


def _mc_dropout(x):  # what `mc_predict` samples: Dropout; the export keeps the deterministic pass
    return _head(keras.layers.Dropout(0.5)(x))


BODIES = {
    "DropConnectConv2D+DropConnectDense": _drop_connect,
    "StochasticDepth": _stochastic_depth,
    "FractionalMaxPooling2D": lambda x: _head(
        kl.FractionalMaxPooling2D((1.44, 1.44), name="fmp")(x)
    ),
    "RandomResizedCrop": lambda x: _head(kl.RandomResizedCrop(12, 10, name="rrc")(x)),
    "PCAColorAugmentation": _pca,
    "TestTimeAugmentation": _tta,
    "mc_predict (Dropout)": _mc_dropout,
}


def test_every_kerasopt_layer_is_in_the_table():
    for name in kl.__all__:
        if name[0].isupper():
            assert name in LAYER_SUPPORT, name


@pytest.mark.parametrize("fmt", ["onnx", "litert"])
@pytest.mark.parametrize("layer", sorted(BODIES))
@pytest.mark.reference("export.support_table")
def test_layer_exports_its_inference_form(layer, fmt, tmp_path):
    model = _model(BODIES[layer])
    x = raw_images(4, 20, 26)
    expected = model.predict(x, verbose=0)  # Keras' predict: every layer in inference mode
    path = (
        export_onnx(model, tmp_path / "m.onnx")
        if fmt == "onnx"
        else export_litert(model, tmp_path / "m.tflite")
    )
    served = load_predictor(path)(x)
    np.testing.assert_allclose(served, expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(load_predictor(path)(x), served, atol=0)  # deterministic


@keras.saving.register_keras_serializable(package="kerasopt_tests")
class HostCallback(keras.layers.Layer):
    """A layer calling back into Python (tf.numpy_function): no converter can export that."""

    def call(self, inputs):
        outputs = tf.numpy_function(lambda a: a * 2, [inputs], tf.float32, stateful=False)
        outputs.set_shape(inputs.shape)
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape


@pytest.mark.parametrize("fmt", ["onnx", "litert"])
@pytest.mark.reference("export.ExportError")
def test_unconvertible_layer_fails_at_export_naming_it(fmt, tmp_path):
    model = _model(lambda x: _head(HostCallback(name="host_callback")(x)))
    target = tmp_path / ("m.onnx" if fmt == "onnx" else "m.tflite")
    with pytest.raises(
        ExportError, match=r"failed in layer 'host_callback' \(HostCallback\).*What to do"
    ):
        export_onnx(model, target) if fmt == "onnx" else export_litert(model, target)
    assert not target.exists()  # nothing half-written


def test_guide_table_is_the_generated_one():
    guide = (Path(__file__).resolve().parents[2] / "docs" / "guides" / "export.md").read_text()
    assert support_table() in guide
