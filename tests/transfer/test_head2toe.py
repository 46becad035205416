"""Multi-layer (Head2Toe-style) features: the stages found, the pooled values against NumPy,
and a save/load round trip."""

import keras
import numpy as np
import pytest

from kerasopt.transfer import ImagenetPreprocessing
from kerasopt.transfer.head2toe import multi_layer_extractor, stage_outputs


@pytest.mark.portable
def test_mobilenet_v2_stages_and_pooled_values(tmp_path):
    """MobileNetV2 at 64 px has stages at 32, 16, 8, 4 and 2 px (the stem and each stride-2
    block); the features are each stage output's spatial mean (NumPy), concatenated in order,
    and survive model.save / load_model."""
    base = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(64, 64, 3), alpha=0.35
    )
    names = stage_outputs(base)
    sizes = [base.get_layer(n).output.shape[1] for n in names]
    assert sizes == [32, 16, 8, 4, 2] and names[-1] == base.layers[-1].name
    for name in names[:-1]:  # the last layer before the resolution halves
        index = [layer.name for layer in base.layers].index(name)
        assert base.layers[index + 1].output.shape[1] != base.get_layer(name).output.shape[1]
    extractor = multi_layer_extractor(base, ImagenetPreprocessing("tf"))
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    taps = keras.Model(base.inputs, [base.get_layer(n).output for n in names])
    expected = np.concatenate(
        [np.asarray(o).mean(axis=(1, 2)) for o in taps(x / 127.5 - 1.0, training=False)], axis=1
    )
    np.testing.assert_allclose(np.asarray(extractor(x)), expected, atol=1e-5)
    extractor.save(tmp_path / "extractor.keras")
    loaded = keras.models.load_model(tmp_path / "extractor.keras")
    np.testing.assert_allclose(np.asarray(loaded(x)), expected, atol=1e-5)


def test_unknown_layer_is_refused_by_name():
    base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3, name="a")])
    with pytest.raises(
        ValueError, match=r"Argument `layer_names` .* Received: layer_names=\['b'\]"
    ):
        multi_layer_extractor(base, layer_names=["b"])
