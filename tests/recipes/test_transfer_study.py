"""recipes.transfer_study end to end (offline ImageNet weights), in this process, on a tiny
folder of the real ants and bees photos (10 + 10 training, 6 + 6 validation) with
MobileNet(alpha=0.25) at 96 px, two head epochs and one fine-tune epoch (a one-step
head phase is refused by its OneCycle schedule).

Checked: the table has its three settings with the documented epoch budgets (scratch trains
head + fine-tune epochs); each reported validation accuracy is recomputed here by loading the
published run's model and predicting the 12 validation photos; the Markdown table shows the
JSON's numbers.

In the default run: about 46 s of CPU (42.8 s user + 3.3 s system, measured on the 2-core
machine): two fine_tune runs, each publishing a full run folder (SavedModel, pictures, logs)."""

import json
import shutil

import numpy as np
import pytest

from tests.recipes._outputs import check_folder


def tiny_ants_and_bees(source, target):
    """The first photos (by name) of each class and split, copied into `target`."""
    for split, count in (("train", 10), ("val", 6)):
        for label in ("ants", "bees"):
            folder = target / split / label
            folder.mkdir(parents=True)
            photos = sorted(p for p in (source / split / label).iterdir() if p.suffix == ".jpg")
            for photo in photos[:count]:
                shutil.copy(photo, folder / photo.name)
    return target


def predicted_accuracy(run_dir, data):
    import keras

    model = keras.models.load_model(run_dir / "model.keras")
    hits = total = 0
    for x, y in data.val:
        y = np.asarray(y)
        labels = y.argmax(-1) if y.ndim == 2 else y
        hits += int(np.sum(model.predict(x, verbose=0).argmax(-1) == labels))
        total += len(labels)
    return hits / total, total


@pytest.mark.usefixtures("keras_home")
def test_transfer_study_tiny(assets, tmp_path):
    from kerasopt.transfer import image_dataset
    from recipes.transfer_study import main

    data = tiny_ants_and_bees(assets / "datasets" / "hymenoptera_data", tmp_path / "data")
    out = tmp_path / "out"
    main(
        ["--data", str(data), "--backbone", "mobilenet", "--alpha", "0.25", "--image-size", "96"]
        + ["--batch-size", "8", "--seeds", "0", "--epochs-head", "2", "--epochs-finetune", "1"]
        + ["--out", str(out)]
    )
    check_folder(out, ["pretrained-seed0", "scratch-seed0", "study.json", "study.md"])
    study = json.loads((out / "study.json").read_text())
    rows = {row["phase"]: row for row in study["rows"]}
    assert sorted(rows) == ["finetune", "head", "scratch"]
    assert (rows["head"]["epochs"], rows["finetune"]["epochs"], rows["scratch"]["epochs"]) == (
        [2],
        [1],
        [3],
    )
    val = image_dataset(data, 96, 8, seed=0, augment=False)
    for kind, phase in (("pretrained", "finetune"), ("scratch", "scratch")):
        accuracy, n = predicted_accuracy(out / f"{kind}-seed0", val)
        assert n == 12
        assert rows[phase]["val_accuracy"] == [pytest.approx(accuracy, abs=1e-6)]
    table = (out / "study.md").read_text()
    for row in study["rows"]:
        assert f"{row['mean']:.3f} ± {row['sd']:.3f}" in table
