import keras
import numpy as np
import pytest

from kerasopt.transfer import ImagenetPreprocessing, backbone, build_classifier


def _tiny(**kwargs):
    base = backbone("mobilenet", weights=None, input_shape=(32, 32, 3), alpha=0.25)
    return base, build_classifier(base, 3, **kwargs)


def test_raw_images_of_any_size_to_probabilities():
    _, model = _tiny()
    x = np.random.default_rng(0).uniform(0, 255, (2, 50, 70, 3)).astype("float32")
    probs = model.predict(x, verbose=0)
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_backbone_runs_in_inference_mode_while_training():
    """With dropout 0, training=True equals training=False only if the (trainable) backbone's
    BatchNormalization layers use their moving statistics: the backbone is called with training=False."""
    base, model = _tiny(dropout=0.0)
    x = np.random.default_rng(1).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        model(x, training=True), model(x, training=False), rtol=1e-6, atol=1e-7
    )
    # Control: the backbone alone in training mode (batch statistics) gives something else.
    pre = ImagenetPreprocessing("tf")(x)
    assert not np.allclose(base(pre, training=True), base(pre, training=False), atol=1e-4)


def test_float32_output_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        base, model = _tiny()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert base.layers[2].compute_dtype == "float16" and model.get_layer("backbone").layer is base
    assert model.get_layer("head").compute_dtype == "float32"
    out = model(np.zeros((1, 32, 32, 3), "float32"))
    assert str(out.dtype) in ("float32", "<dtype: 'float32'>")


def test_save_load_round_trip(tmp_path):
    _, model = _tiny()
    x = np.random.default_rng(2).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    layer = loaded.get_layer("preprocess")
    assert isinstance(layer, ImagenetPreprocessing) and layer.get_config()["mode"] == "tf"


def test_argument_validation():
    base = backbone("mobilenet", weights=None, input_shape=(32, 32, 3), alpha=0.25)
    with pytest.raises(ValueError, match="Argument `n_classes`.*Received: n_classes=1"):
        build_classifier(base, 1)
    with pytest.raises(ValueError, match="Argument `dropout`.*Received: dropout=1.0"):
        build_classifier(base, 2, dropout=1.0)
    with pytest.raises(ValueError, match="Argument `preprocessing`"):
        build_classifier(base, 2, preprocessing="torch")
