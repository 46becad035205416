"""TestTimeAugmentation: the views are exact corner/centre crops and flips; output is their mean."""

import keras
import numpy as np
import pytest

from kerasopt.layers import TestTimeAugmentation

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too

H, W, CH, CW = 9, 11, 5, 6


def _coordinate_images():
    """(2, H, W, 3): channel 0 row, channel 1 column, channel 2 example index."""
    rows, cols = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    return np.stack([np.stack([rows, cols, np.full_like(rows, b)], -1) for b in range(2)]).astype(
        "float32"
    )


def _core(input_shape=(CH, CW, 3)):
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))


def _expected_views(x, mode):
    tops, lefts = [0, 0, H - CH, H - CH, (H - CH) // 2], [0, W - CW, 0, W - CW, (W - CW) // 2]
    crops = [x[:, top : top + CH, left : left + CW] for top, left in zip(tops, lefts, strict=True)]
    return {
        "five_crop": crops,
        "ten_crop": crops + [c[:, :, ::-1] for c in crops],
        "flip": [x, x[:, :, ::-1]],
    }[mode]


@pytest.mark.parametrize("mode", ["ten_crop", "five_crop", "flip"])
@pytest.mark.reference("layers.TestTimeAugmentation")
def test_views_are_exact_crops_and_flips_and_output_is_their_mean(mode):
    x = _coordinate_images()
    core = _core((H, W, 3) if mode == "flip" else (CH, CW, 3))
    tta = TestTimeAugmentation(core, mode, crop_size=(CH, CW))
    expected = _expected_views(x, mode)
    views = [np.asarray(v) for v in tta.views(x)]
    assert len(views) == {"ten_crop": 10, "five_crop": 5, "flip": 2}[mode]
    for got, want in zip(views, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    mean = np.mean([np.asarray(core(v)) for v in expected], axis=0)
    np.testing.assert_allclose(np.asarray(tta(x)), mean, rtol=1e-6, atol=1e-7)


def test_ten_crop_coordinates_spell_out_corners_and_centre():
    views = TestTimeAugmentation(_core(), "ten_crop", (CH, CW)).views(_coordinate_images())
    top_left = [(int(v[0, 0, 0, 0]), int(v[0, 0, 0, 1])) for v in views]
    assert top_left[:5] == [
        (0, 0),
        (0, W - CW),
        (H - CH, 0),
        (H - CH, W - CW),
        ((H - CH) // 2, (W - CW) // 2),
    ]
    # flipped views: first column holds the crop's last column
    assert [c for _, c in top_left[5:]] == [c + CW - 1 for _, c in top_left[:5]]


def test_save_load_round_trip(tmp_path):
    x = np.random.default_rng(0).uniform(size=(3, H, W, 3)).astype("float32")
    tta = TestTimeAugmentation(_core(), "ten_crop", (CH, CW))
    expected = np.asarray(tta(x))
    tta.save(tmp_path / "tta.keras")
    loaded = keras.models.load_model(tmp_path / "tta.keras")
    assert (
        isinstance(loaded, TestTimeAugmentation)
        and loaded.mode == "ten_crop"
        and loaded.crop_size == (CH, CW)
    )
    np.testing.assert_array_equal(np.asarray(loaded(x)), expected)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="SavedModel is TensorFlow's")
def test_export_round_trip(tmp_path):
    import tensorflow as tf

    x = np.random.default_rng(0).uniform(size=(3, H, W, 3)).astype("float32")
    tta = TestTimeAugmentation(_core(), "ten_crop", (CH, CW))
    expected = np.asarray(tta(x))
    tta.export(str(tmp_path / "exported"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "exported"))
    np.testing.assert_allclose(served.serve(x).numpy(), expected, rtol=1e-6)


def test_runs_under_jit_compile():
    x = np.random.default_rng(1).uniform(size=(2, H, W, 3)).astype("float32")
    tta = TestTimeAugmentation(_core(), "ten_crop", (CH, CW))
    tta.compile(jit_compile=True)  # predict runs the XLA-compiled step on every backend
    np.testing.assert_allclose(tta.predict(x, verbose=0), np.asarray(tta(x)), rtol=1e-5)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        TestTimeAugmentation(_core(), "twelve_crop", 4)
    with pytest.raises(ValueError, match="crop_size=None"):
        TestTimeAugmentation(_core(), "ten_crop")
    with pytest.raises(ValueError, match="crop_size=0"):
        TestTimeAugmentation(_core(), "five_crop", 0)
    with pytest.raises(ValueError, match="crop_size"):
        TestTimeAugmentation(_core(), "five_crop", 20).views(_coordinate_images())
