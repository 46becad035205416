"""Phase-2 options of `fine_tune`: weight averaging (`average`) and snapshot ensembles
(`snapshots`), on 48 training / 32 validation photos of ants vs bees at 96 px with
MobileNet(alpha=0.25) from the offline Keras cache, 1 head epoch."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.optimizers import Averaged
from kerasopt.optimizers.averaging import averaged_optimizers
from kerasopt.transfer import FineTuneStrategy, fine_tune, image_dataset

TINY = FineTuneStrategy(
    "tiny", unfreeze_fraction=0.1, epochs_head=1, epochs_finetune=1, head_learning_rate=3e-3
)


@pytest.fixture(scope="module")
def tiny_data(small_folder, keras_home):
    return image_dataset(small_folder, image_size=96, batch_size=16, seed=0, augment=False)


def _val_images(data):
    return np.concatenate([x.numpy() for x, _ in data.val])


def test_average_ema_saves_the_averaged_weights(tiny_data, tmp_path):
    """Both sub-optimizers of the discriminative MultiOptimizer are `Averaged`; after phase 2
    the model, and model.keras, hold exactly the optimizers' averages, not the last iterate."""
    result = fine_tune(
        tiny_data,
        tmp_path,
        backbone="mobilenet",
        strategy=TINY,
        alpha=0.25,
        average="ema",
        verbose=0,
    )
    model = result.model
    averaged = averaged_optimizers(model.optimizer)
    assert len(averaged) == 2 and all(
        isinstance(o, Averaged) and o.method == "ema" for o in averaged
    )
    assert {int(o.average_count) for o in averaged} == {3}  # 48 images / 16 = 3 steps, all recorded
    loaded = keras.models.load_model(tmp_path / "model.keras")
    saved = {v.path: v.numpy() for v in loaded.weights}
    n_checked = 0
    for optimizer in averaged:
        for variable, average in zip(
            optimizer.averaged_variables, optimizer._averages, strict=True
        ):
            np.testing.assert_array_equal(variable.numpy(), average.numpy(), err_msg=variable.path)
            np.testing.assert_array_equal(
                saved[variable.path], average.numpy(), err_msg=variable.path
            )
            n_checked += 1
    assert n_checked == len(model.trainable_variables) > 2
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["average"] == "ema" and metrics["phases"]["finetune"]["average"] == "ema"
    assert metrics["phases"]["finetune"]["epochs"] == 1
    # The model that was evaluated and saved is the averaged one.
    x = _val_images(tiny_data)[:8]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_snapshots_write_members_and_export_the_mean_ensemble(
    tiny_data, small_folder, tmp_path, capsys
):
    """snapshots=2 with 1 fine-tune epoch: rounded up to 2 epochs, 2 snapshots + manifest, the
    exported ensemble's output is the mean of the members' outputs, and its recorded
    validation accuracy is that of the mean prediction. The cyclic rate drives both
    sub-optimizers: at the last batch (phase-2 step t = 5, cycles of 3 steps) the head's rate
    is lr/2 (cos(pi (t mod 3) / 3) + 1) (Huang et al., eq. 2), the backbone's
    `backbone_lr_factor` times that."""
    strategy = FineTuneStrategy(
        "tiny",
        0.1,
        epochs_head=1,
        epochs_finetune=1,
        head_learning_rate=3e-3,
        finetune_learning_rate=1e-3,
        backbone_lr_factor=0.25,
    )
    result = fine_tune(
        tiny_data,
        tmp_path,
        backbone="mobilenet",
        strategy=strategy,
        alpha=0.25,
        snapshots=2,
        verbose=0,
    )
    assert "rounded up to 2" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "snapshots" / "manifest.json").read_text())
    assert [s["file"] for s in manifest["snapshots"]] == [
        "snapshot_001.keras",
        "snapshot_002.keras",
    ]
    assert [s["epoch"] for s in manifest["snapshots"]] == [
        1,
        2,
    ]  # 2 cycles of 1 epoch, counted in phase 2
    members = [
        keras.models.load_model(tmp_path / "snapshots" / s["file"], compile=False)
        for s in manifest["snapshots"]
    ]
    x = _val_images(tiny_data)
    y = np.concatenate([y.numpy() for _, y in tiny_data.val])
    mean = np.mean([m.predict(x, verbose=0) for m in members], axis=0)
    assert not np.allclose(
        members[0].predict(x, verbose=0), members[1].predict(x, verbose=0), atol=1e-4
    )
    ensemble = keras.models.load_model(tmp_path / "ensemble" / "model.keras")
    np.testing.assert_allclose(ensemble.predict(x, verbose=0), mean, atol=1e-6)
    served = tf.saved_model.load(str(tmp_path / "ensemble" / "saved_model"))
    np.testing.assert_allclose(served.serve(tf.constant(x)).numpy(), mean, atol=1e-6)
    phase = json.loads((tmp_path / "metrics.json").read_text())["phases"]["finetune"]
    assert phase["epochs"] == 2 and phase["snapshots"] == 2
    assert phase["ensemble"]["members"] == 2
    np.testing.assert_allclose(
        phase["ensemble"]["val_accuracy"], np.mean(mean.argmax(-1) == y), atol=1e-6
    )
    rates = sorted(float(o.learning_rate) for o in result.model.optimizer.optimizers)
    expected = 1e-3 / 2 * (np.cos(np.pi * 2 / 3) + 1)
    np.testing.assert_allclose(rates, [0.25 * expected, expected], rtol=1e-6)
    # recipes.predict serves the ensemble folder like a run folder.
    from recipes.predict import main

    jpeg = sorted((small_folder / "val" / "bees").glob("*.jpg"))[0]
    (name, p), _ = main([str(tmp_path / "ensemble"), str(jpeg), "--top-k", "2"])[str(jpeg)]
    image = tf.cast(tf.io.decode_jpeg(tf.io.read_file(str(jpeg)), channels=3), tf.float32)[None]
    probs = np.mean([m.predict(image, verbose=0)[0] for m in members], axis=0)
    assert name == ["ants", "bees"][int(np.argmax(probs))]
    np.testing.assert_allclose(p, probs.max(), atol=1e-5)
    # The single model ends as the last snapshot.
    np.testing.assert_allclose(
        result.model.predict(x, verbose=0), members[1].predict(x, verbose=0), atol=1e-6
    )


def test_phase2_option_validation(synthetic_image_folder, tmp_path):
    """The option checks come first: synthetic images and no Keras cache suffice."""
    tiny_data = image_dataset(synthetic_image_folder, image_size=32, batch_size=4, augment=False)
    with pytest.raises(
        ValueError, match="`average` and `snapshots` cannot be combined.*average='ema', snapshots=2"
    ):
        fine_tune(tiny_data, tmp_path, strategy=TINY, average="ema", snapshots=2)
    with pytest.raises(ValueError, match="Argument `average`"):
        fine_tune(tiny_data, tmp_path, strategy=TINY, average="mean")
    with pytest.raises(ValueError, match="Argument `snapshots`"):
        fine_tune(tiny_data, tmp_path, strategy=TINY, snapshots=0)
    with pytest.raises(ValueError, match="act on phase 2"):
        fine_tune(tiny_data, tmp_path, strategy=TINY, weights=None, snapshots=2)
    assert not (tmp_path / "model.keras").exists()


def test_recipe_refuses_both_flags_and_passes_each(capsys):
    from kerasopt.cli.finetune import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--average", "ema", "--snapshots", "2"])
    assert "--snapshots: not allowed with argument --average" in capsys.readouterr().err
    _, args = parse_args(["--snapshots", "3"])
    assert (args.snapshots, args.average) == (3, None)
    _, args = parse_args(["--average", "swa"])
    assert (args.snapshots, args.average) == (None, "swa")
