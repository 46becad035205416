import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from kerasopt.transfer import BACKBONES, ImagenetPreprocessing, backbone, get_spec

ROOT = Path(__file__).resolve().parents[2]
ISSUE_LIST = {
    "mobilenet": "MobileNet",
    "mobilenet_v2": "MobileNetV2",
    "mobilenet_v3_small": "MobileNetV3Small",
    "mobilenet_v3_large": "MobileNetV3Large",
    "efficientnet_b0": "EfficientNetB0",
    "efficientnet_b1": "EfficientNetB1",
    "efficientnet_b2": "EfficientNetB2",
    "efficientnet_b3": "EfficientNetB3",
    "efficientnet_v2_b0": "EfficientNetV2B0",
    "efficientnet_v2_b1": "EfficientNetV2B1",
    "efficientnet_v2_b2": "EfficientNetV2B2",
    "efficientnet_v2_b3": "EfficientNetV2B3",
    "efficientnet_v2_s": "EfficientNetV2S",
    "resnet50": "ResNet50",
    "resnet50_v2": "ResNet50V2",
    "convnext_tiny": "ConvNeXtTiny",
    "xception": "Xception",
    "vgg16": "VGG16",
}
# Input sizes from the Keras applications documentation table.
DOC_SIZES = {
    "efficientnet_b1": 240,
    "efficientnet_b2": 260,
    "efficientnet_b3": 300,
    "efficientnet_v2_b1": 240,
    "efficientnet_v2_b2": 260,
    "efficientnet_v2_b3": 300,
    "efficientnet_v2_s": 384,
    "xception": 299,
}


@pytest.mark.portable
@pytest.mark.reference("transfer.BackboneSpec", "transfer.get_spec")
def test_registry_holds_the_issue_list():
    for name, constructor in ISSUE_LIST.items():
        spec = get_spec(name)
        assert spec.constructor == constructor
        assert spec.build_fn() is getattr(keras.applications, constructor)
        assert spec.image_size == DOC_SIZES.get(name, 224)
        assert callable(spec.preprocess_input)


@pytest.mark.parametrize("name", sorted(BACKBONES))
@pytest.mark.portable
@pytest.mark.reference("transfer.ImagenetPreprocessing", "transfer.get_spec")
def test_preprocessing_layer_matches_keras_preprocess_input(name):
    spec = get_spec(name)
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    expected = np.asarray(spec.preprocess_input(x.copy()))
    got = np.asarray(ImagenetPreprocessing(spec.preprocessing)(x))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-4)


def test_argument_validation():
    with pytest.raises(ValueError, match="Argument `name`.*Received: name='nope'"):
        backbone("nope")
    with pytest.raises(ValueError, match="Argument `weights`.*missing.h5"):
        backbone("mobilenet", weights="missing.h5")
    with pytest.raises(ValueError, match="Argument `input_shape`"):
        backbone("mobilenet", weights=None, input_shape=(96, 96))
    with pytest.raises(ValueError, match="Argument `alpha`"):
        backbone("resnet50", weights=None, alpha=0.5)
    with pytest.raises(ValueError, match="Argument `mode`"):
        ImagenetPreprocessing("torchvision")


@pytest.mark.reference("transfer.backbone")
def test_weights_from_cache_and_from_a_local_file_agree(keras_home):
    cached = backbone("mobilenet", input_shape=(96, 96, 3), alpha=0.25)
    path = os.path.join(keras_home, "models", "mobilenet_2_5_224_tf_no_top.h5")
    from_file = backbone("mobilenet", weights=path, input_shape=(96, 96, 3), alpha=0.25)
    random = backbone("mobilenet", weights=None, input_shape=(96, 96, 3), alpha=0.25)
    for a, b in zip(cached.weights, from_file.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(cached.weights[0].numpy(), random.weights[0].numpy())


@pytest.mark.reference("transfer.WeightsUnavailableError")
def test_offline_without_cache_says_how_to_supply_weights(tmp_path, small_folder):
    """An empty KERAS_HOME and no network: the recipe stops with the message, no traceback."""
    env = {
        **os.environ,
        "KERAS_HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network disabled for this test')\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from kerasopt.cli.finetune import main\n"
        f"main(['--data', {str(small_folder)!r}, '--backbone', 'mobilenet', '--alpha', '0.25', '--image-size', '96'])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "--weights PATH" in proc.stderr and "KERAS_HOME" in proc.stderr, proc.stderr[-2000:]
