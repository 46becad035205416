"""The checkpoint is chosen on validation across the phases: when phase 2 ends with a higher
validation loss than the head phase, the published model is the head phase's.

No assets: a MobileNet(alpha=0.25) with random weights, saved to a weights file, is the
"pretrained" backbone (so both phases run), on a folder of random JPEGs at 32 px. Phase 2 at a
peak rate of 30 (Adam, every layer) wrecks the model, so its validation loss ends above the
head's. The published model must then be the head phase's: its backbone bit-identical to the
weights file (phase 1 trains no backbone weight; phase 2 changed them all), its head equal to
the head phase's own checkpoint (checkpoints/head.keras, written before phase 2 began), and its
validation loss, recomputed here, the head's."""

import json

import keras
import numpy as np
import pytest

from kerasopt.transfer import FineTuneStrategy, backbone, fine_tune, image_dataset

pytestmark = pytest.mark.reference("transfer.fine_tune")


def test_phase2_worse_on_validation_gives_back_the_head_phase(synthetic_image_folder, tmp_path):
    keras.utils.set_random_seed(0)
    weights = tmp_path / "random.weights.h5"
    backbone("mobilenet", weights=None, input_shape=(32, 32, 3), alpha=0.25).save_weights(weights)
    data = image_dataset(synthetic_image_folder, image_size=32, batch_size=4, seed=0)
    wrecking = FineTuneStrategy(
        "wrecking", unfreeze_fraction=1.0, epochs_head=2, epochs_finetune=2,
        finetune_learning_rate=30.0, backbone_lr_factor=1.0,
    )  # fmt: skip
    result = fine_tune(
        data, tmp_path / "run", backbone="mobilenet", weights=str(weights), alpha=0.25,
        strategy=wrecking, finetune_learning_rate=30.0, verbose=0, cached_activations=False,
        label_smoothing=0.0,
    )  # fmt: skip
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    head, finetune = metrics["phases"]["head"], metrics["phases"]["finetune"]
    assert finetune["val_loss"] > head["val_loss"]  # the premise: phase 2 made it worse
    assert metrics["kept_phase"] == "head" and metrics["val_loss"] == head["val_loss"]

    published = keras.models.load_model(result.run_dir / "model.keras")
    random_backbone = backbone(
        "mobilenet", weights=str(weights), input_shape=(32, 32, 3), alpha=0.25
    )
    published_backbone = published.get_layer("backbone")  # the backbone, in inference mode
    for kept, original in zip(published_backbone.weights, random_backbone.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(kept), np.asarray(original))
    checkpoint = keras.models.load_model(result.run_dir / "checkpoints" / "head.keras")
    for kept, saved in zip(published.get_layer("head").weights, checkpoint.get_layer("head").weights,
                           strict=True):  # fmt: skip
        np.testing.assert_array_equal(np.asarray(kept), np.asarray(saved))
    x = np.concatenate([np.asarray(images) for images, _ in data.val])
    y = np.concatenate([np.asarray(labels) for _, labels in data.val])
    probs = published.predict(x, verbose=0)
    loss = -np.mean(np.log(probs[np.arange(len(y)), y]))  # cross-entropy, restated
    assert loss == pytest.approx(head["val_loss"], rel=1e-4)
    counts = np.zeros((2, 2), "int64")  # the validation confusion matrix, recounted
    np.add.at(counts, (y, probs.argmax(axis=1)), 1)
    assert metrics["confusion_matrix"] == counts.tolist()
