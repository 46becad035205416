"""Every anticipated error of recipes.finetune and recipes.predict: one line `error: ...` on
stderr, exit status 2, no traceback, checked before any work, and no run folder damaged."""

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest

import kerasopt.cli.finetune as finetune
from kerasopt.cli import predict

BASE = ["--backbone", "mobilenet", "--alpha", "0.25", "--image-size", "32", "--verbose", "0"]


@pytest.fixture
def small_folder(synthetic_image_folder):
    """train/ 3 + 3 and val/ 2 + 2 JPEGs of "ants" and "bees" (synthetic: the checks under test
    come before any image is read)."""
    return synthetic_image_folder


@pytest.fixture
def existing_run(tmp_path):
    """A folder that holds a (stand-in) finished run, with its digest."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text('{"val_accuracy": 0.9}\n')
    (run / "class_names.json").write_text('["ants", "bees"]\n')
    with zipfile.ZipFile(run / "model.keras", "w") as archive:
        archive.writestr("config.json", "{}")
    return run


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _one_line_error(capsys, call, *args):
    with pytest.raises(SystemExit) as exit_info:
        call(list(args))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def no_work(monkeypatch):
    """Offline, and any data scan or training is a test failure (the checks come first)."""
    from kerasopt import transfer

    monkeypatch.setattr(finetune, "has_network", lambda *a, **k: False)

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(transfer, "image_dataset", forbidden)
    monkeypatch.setattr(transfer, "fine_tune", forbidden)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--epochs-head", "0"], "argument --epochs-head: must be at least 1"),
        (["--epochs-finetune", "-1"], "argument --epochs-finetune: must be at least 0"),
        (["--image-size", "16"], "argument --image-size: must be at least 32"),
        (["--batch-size", "0"], "argument --batch-size: must be at least 1"),
        (["--patience", "0"], "argument --patience: must be at least 1"),
        (["--validation-split", "1.5"], "argument --validation-split: must be between 0 and 1"),
        (["--backbone", "nonsense"], "argument --backbone: unknown backbone 'nonsense'"),
        (
            ["--backbone", "resnet50", "--alpha", "0.5"],
            "argument --alpha: a positive width multiplier for the MobileNet family only",
        ),
        (
            ["--weights", "missing.h5"],
            "argument --weights: 'imagenet', 'none' or an existing weights file",
        ),
        (
            ["--snapshots", "2", "--epochs-finetune", "0"],
            "arguments --average and --snapshots act on phase 2",
        ),
        (
            ["--average", "ema", "--snapshots", "2"],
            "argument --snapshots: not allowed with argument --average",
        ),
        (["--resume", "--overwrite"], "not allowed with argument"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["--workers", "0"], "argument --workers: must be at least 1; received 0"),
        (["--workers", "2", "--resume"], "argument --workers: not with --resume or --snapshots"),
        (
            ["--workers", "2", "--snapshots", "2"],
            "argument --workers: not with --resume or --snapshots",
        ),
        (
            ["--workers", "2", "--workers-timeout", "0"],
            "argument --workers-timeout: must be positive",
        ),
    ],
)
def test_finetune_argument_errors(args, words, capsys, no_work, existing_run, small_folder):
    before = _digest(existing_run)
    line = _one_line_error(
        capsys,
        finetune.main,
        "--data",
        str(small_folder),
        "--out",
        str(existing_run),
        *BASE,
        *args,
        "--overwrite" if "--resume" not in args and "--overwrite" not in args else "--resume",
    )
    assert words in line
    assert _digest(existing_run) == before
    assert not list(existing_run.parent.glob("run.*"))  # no staging or state folder created


def test_missing_data_folder(capsys, no_work, tmp_path):
    line = _one_line_error(capsys, finetune.main, "--data", str(tmp_path / "missing"), *BASE)
    assert "argument --data: not a folder or tfds:NAME" in line


def test_existing_run_is_refused_without_overwrite(capsys, no_work, existing_run, small_folder):
    before = _digest(existing_run)
    line = _one_line_error(
        capsys, finetune.main, "--data", str(small_folder), "--out", str(existing_run), *BASE
    )
    assert "already holds a run" in line and "--overwrite" in line
    assert _digest(existing_run) == before


def test_resume_without_an_interrupted_run(capsys, no_work, existing_run, small_folder):
    line = _one_line_error(
        capsys,
        finetune.main,
        "--data",
        str(small_folder),
        "--out",
        str(existing_run),
        *BASE,
        "--resume",
    )
    assert "Nothing to resume" in line and "finished run" in line


def test_data_error_is_one_line_and_leaves_the_run_folder(
    capsys, monkeypatch, existing_run, small_folder, tmp_path
):
    """Mismatched class sets (a ValueError from the data check) end the recipe in one line."""
    monkeypatch.setattr(finetune, "has_network", lambda *a, **k: False)
    data = tmp_path / "data"
    shutil.copytree(small_folder, data)
    shutil.move(data / "val" / "bees", data / "val" / "wasps")
    before = _digest(existing_run)
    line = _one_line_error(
        capsys, finetune.main, "--data", str(data), "--out", str(existing_run), *BASE, "--overwrite"
    )
    assert "Only in train/: ['bees']; only in val/: ['wasps']" in line
    assert _digest(existing_run) == before


def test_debug_shows_the_traceback(no_work, existing_run, small_folder):
    with pytest.raises(Exception, match="unknown backbone"):
        finetune.main(
            [
                "--data",
                str(small_folder),
                "--out",
                str(existing_run),
                *BASE,
                "--backbone",
                "nonsense",
                "--debug",
            ]
        )


def test_predict_errors(capsys, existing_run, tmp_path):
    image = tmp_path / "x.jpg"
    image.write_bytes(b"\xff\xd8\xff not really")
    line = _one_line_error(capsys, predict.main, str(tmp_path), str(image))
    assert "has no model.keras" in line
    line = _one_line_error(capsys, predict.main, str(existing_run), str(image), "--top-k", "0")
    assert "argument --top-k: must be at least 1" in line
    truncated = existing_run / "model.keras"
    truncated.write_bytes(truncated.read_bytes()[:10])
    line = _one_line_error(capsys, predict.main, str(existing_run), str(image))
    assert "is not a complete .keras file (truncated" in line


def test_recipes_share_one_error_helper():
    for module in (finetune, predict):
        source = Path(module.__file__).read_text()
        assert "from kerasopt.cli._cli import" in source and "def run(" not in source
