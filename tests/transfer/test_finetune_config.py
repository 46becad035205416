"""`FineTuneConfig`: the run's options in one record, through metrics.json and the command line;
honest selection (the test split read only by the final evaluation); a clean log."""

import dataclasses
import inspect
import json
import warnings

import keras
import numpy as np
import pytest
from PIL import Image

from kerasopt.cli import finetune as cli
from kerasopt.transfer import FineTuneConfig, FineTuneStrategy, backbone, fine_tune, image_dataset
from kerasopt.transfer import data as data_module


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two classes told apart by their dominant colour, 40 px PNGs."""
    root = tmp_path_factory.mktemp("config") / "data"
    rng = np.random.default_rng(0)
    for label in range(2):
        (root / f"c{label}").mkdir(parents=True)
        for i in range(16):
            image = rng.normal(100, 40, (40, 40, 3))
            image[..., label] += 60
            Image.fromarray(np.clip(image, 0, 255).astype("uint8")).save(
                root / f"c{label}" / f"{i}.png"
            )
    return root


class RecordingSplit:
    """The test split's batches; each pass over it records the functions on the call stack."""

    def __init__(self, dataset):
        self.batches = [(x.numpy(), y.numpy()) for x, y in dataset]
        self.readers = []

    def __iter__(self):
        self.readers.append(
            {frame.function for frame in inspect.stack() if "kerasopt" in frame.filename}
        )
        return iter(self.batches)


@pytest.fixture(scope="module")
def run(folder, tmp_path_factory):
    """Both phases (a MobileNet alpha 0.25 with random weights from a file, 32 px), the test
    split replaced by a `RecordingSplit`, Keras' warnings recorded."""
    keras.utils.set_random_seed(0)
    weights = tmp_path_factory.mktemp("weights") / "random.weights.h5"
    backbone("mobilenet", weights=None, input_shape=(32, 32, 3), alpha=0.25).save_weights(weights)
    data = image_dataset(folder, image_size=32, batch_size=8, validation_split=0.5, test_split=0.5)
    recording = RecordingSplit(data.test)
    data = dataclasses.replace(data, test=recording)
    config = FineTuneConfig(
        backbone="mobilenet",
        alpha=0.25,
        weights=str(weights),
        strategy=FineTuneStrategy("tiny", 1.0, epochs_head=2, epochs_finetune=1),
        label_smoothing=0.05,
        class_weight={0: 1.0, 1: 2.0},
        time_budget=30.0,
        verbose=0,
    )
    out = tmp_path_factory.mktemp("run") / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fine_tune(data, out, config)
    return config, out, recording, caught


@pytest.mark.reference("transfer.FineTuneConfig")
def test_config_round_trips_through_metrics_json(run):
    config, out, _, _ = run
    recorded = json.loads((out / "metrics.json").read_text())["config"]
    assert set(recorded) == {field.name for field in dataclasses.fields(FineTuneConfig)}
    assert FineTuneConfig.from_dict(recorded) == config


def test_test_split_is_read_once_by_the_final_evaluation_only(run):
    """Every decision (plan, rates, epochs, checkpoint) precedes the one read of the test split,
    which happens inside the final evaluation (`_evaluate`), after training."""
    _, _, recording, _ = run
    assert recording.readers, "the test split was never evaluated"
    for stack in recording.readers:
        assert "_evaluate" in stack
        assert not stack & {"run", "_step", "train_finetune", "train_head_on_features"}
    assert len(recording.readers) <= 2  # the predictions, then the worst images' pixels


def test_log_has_no_keras_warning(run):
    """No UserWarning from Keras (the kind a user sees: `input_shape ... is undefined or
    non-square`, `shuffle=True was passed, but will be ignored`); deprecation notes, hidden
    from users by Python's default filters, are not counted."""
    keras_warnings = [
        f"{w.filename}: {w.message}"
        for w in run[3]
        if "keras" in (w.filename or "") and issubclass(w.category, UserWarning)
    ]
    assert not keras_warnings, keras_warnings


def test_errors_name_the_field_and_the_value():
    with pytest.raises(
        ValueError, match=r"Argument `label_smoothing` .* Received: label_smoothing=1"
    ):
        FineTuneConfig(label_smoothing=1)
    with pytest.raises(ValueError, match=r"Argument `backbone` .* Received: backbone='resnet9'"):
        FineTuneConfig(backbone="resnet9")
    with pytest.raises(ValueError, match=r"Argument `finetune_learning_rate` .* Received"):
        dataclasses.replace(FineTuneConfig(), finetune_learning_rate=-1.0)


def _argv(config):
    """Command-line words for `config`, from the fields' own `cli` metadata."""
    argv = []
    for field in dataclasses.fields(FineTuneConfig):
        meta, value = field.metadata.get("cli"), getattr(config, field.name)
        if meta is None or value == field.default:
            continue
        flag = meta["flags"][0]
        if meta.get("action") in ("store_true", "store_const"):
            argv.append(flag)
        else:
            argv += [flag, "none" if value is None else str(value)]
    return argv


def test_command_line_builds_the_config_from_its_fields(folder):
    """Every field with command-line metadata is a flag; a config whose every such field
    differs from its default comes back equal from its own argv (no hand-written list)."""
    config = FineTuneConfig(
        backbone="mobilenet",
        similarity="different",
        weights=None,
        alpha=0.5,
        mixed_precision=False,
        xla=False,
        distribute=False,
        patience=4,
        verbose=2,
        snapshots=None,
        average=None,
        overwrite=True,
        time_budget=3.5,
        head_learning_rate=0.01,
        finetune_learning_rate=0.002,
        label_smoothing=0.2,
        class_weight=None,
        tta="flip",
        cached_activations=False,
        cache_views=2,
    )
    cli_fields = [f.name for f in dataclasses.fields(FineTuneConfig) if "cli" in f.metadata]
    changed = [
        name for name in cli_fields if getattr(config, name) != getattr(FineTuneConfig(), name)
    ]
    assert set(cli_fields) - set(changed) == {"average", "snapshots", "resume"}  # exclusive ones
    _, args = cli.parse_args(["--data", str(folder), *_argv(config)])
    assert cli.build_config(args, None) == config
    _, args = cli.parse_args(["--data", str(folder), "--average", "swa", "--resume"])
    built = cli.build_config(args, None)
    assert (built.average, built.resume, built.time_budget) == ("swa", True, cli.DEFAULT_BUDGET)


def test_automatic_input_size_reads_training_files_only(folder, monkeypatch):
    seen = []
    real = data_module.size_from_files

    def spy(paths, *args, **kwargs):
        seen.extend(paths)
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(data_module, "size_from_files", spy)
    data = image_dataset(folder, image_size="auto", validation_split=0.5, test_split=0.5)
    assert seen and set(seen) <= set(data.files["train"])
    assert data.image_size == (96, 96)  # 40 px images: under 64 px
