"""TF Serving layout, argument checks, the missing-dependency error, the serving resize."""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.export import export_litert, export_onnx, export_saved_model, serving_model
from tests.export._models import raw_images, tiny_classifier


def fixed_size_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((8, 10, 3)),
            keras.layers.Conv2D(3, 3),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )


@pytest.mark.reference("export.export_saved_model")
def test_tf_serving_layout_versions_and_named_signature(tmp_path):
    model = tiny_classifier()
    base = tmp_path / "ants_bees"
    first = export_saved_model(model, base)
    second = export_saved_model(model, base, signature="classify")
    assert (first, second) == (base / "1", base / "2")
    assert (second / "saved_model.pb").is_file() and (second / "variables").is_dir()
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]  # no temporary left behind
    loaded = tf.saved_model.load(str(second))
    assert sorted(loaded.signatures) == [
        "classify",
        "serve",
        "serving_default",
    ]  # the default stays
    signature = loaded.signatures["classify"]
    assert list(signature.structured_input_signature[1]) == ["images"]
    assert list(signature.structured_outputs) == ["probabilities"]
    assert export_saved_model(model, base, version=7).name == "7"
    with pytest.raises(FileExistsError, match="version=7"):
        export_saved_model(model, base, version=7)
    with pytest.raises(ValueError, match="Argument `version`"):
        export_saved_model(model, base, version=0)
    with pytest.raises(ValueError, match="Argument `signature`"):
        export_saved_model(model, base, signature="not an identifier")


def test_arguments_are_checked_before_any_work(tmp_path):
    model = tiny_classifier()
    with pytest.raises(ValueError, match=r"Argument `path` must end with '.onnx'"):
        export_onnx(model, tmp_path / "m.tflite")
    with pytest.raises(ValueError, match=r"Argument `path` must end with '.tflite'"):
        export_litert(model, tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="Argument `quantize`"):
        export_litert(model, tmp_path / "m.tflite", quantize="int8")
    with pytest.raises(TypeError, match="Argument `model` must be a keras.Model"):
        serving_model(keras.layers.Dense(2))
    with pytest.raises(
        ValueError, match=r"RGB images .* Received: model with input shape \(None, 4\)"
    ):
        serving_model(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))
    assert list(tmp_path.iterdir()) == []


def test_missing_dependency_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(
        sys.modules, "tf2onnx", None
    )  # as if not installed: import raises ImportError
    with pytest.raises(ImportError, match=r"`tf2onnx` package.*pip install kerasopt\[export\]"):
        export_onnx(tiny_classifier(), tmp_path / "m.onnx")


@pytest.mark.reference("export.serving_model")
def test_serving_model_resizes_fixed_size_models_bilinearly():
    model = fixed_size_model()
    x = raw_images(3, 21, 17)
    expected = model.predict(tf.image.resize(x, (8, 10), method="bilinear").numpy(), verbose=0)
    np.testing.assert_allclose(serving_model(model).predict(x, verbose=0), expected, atol=1e-6)


def test_serving_model_keeps_a_dynamic_model_as_is():
    model = tiny_classifier()
    x = raw_images(2, 40, 30)
    served = serving_model(model)
    assert not any(isinstance(layer, keras.layers.Resizing) for layer in served.layers)
    np.testing.assert_allclose(served.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
