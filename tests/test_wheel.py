"""The package as a user gets it: `python -m build`, the wheel installed (not editable) into a
fresh virtual environment, and the `kerasopt` command run from a folder outside the checkout.

Slow (a few minutes: the build, then pip installs TensorFlow and the rest into the new
environment, from pip's cache when it has them); CI runs it with `make wheel-test`.
"""

import os
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(command, cwd, env=None, timeout=900):
    start = time.monotonic()
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    print(f"{' '.join(map(str, command[:4]))}: {time.monotonic() - start:.0f} s")
    return done


def test_the_command_answers_help_version_and_a_wrong_command_without_importing_keras():
    # `import kerasopt` imports Keras and TensorFlow (seconds); the console script's own answers
    # come from `kerasopt_cli`, outside the package, and import neither
    probe = (
        "import sys, kerasopt_cli\n"
        "try:\n    kerasopt_cli.main(sys.argv[1:])\nexcept SystemExit as e:\n    print('exit', e.code)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'kerasopt', 'tensorflow'}))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args, expected in (
        (["--help"], "serve a model over HTTP"),
        (["--version"], "kerasopt 0."),
        (["servee"], "exit 2"),
    ):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.stdout.rstrip().endswith("[]"), (args, done.stdout, done.stderr)
        assert expected in done.stdout + done.stderr, (args, done.stdout, done.stderr)
    assert "unknown command 'servee'" in done.stderr


@pytest.mark.slow
def test_built_wheel_installs_in_a_fresh_venv_and_its_command_fine_tunes_offline(
    assets, synthetic_image_folder, tmp_path
):
    dist = tmp_path / "dist"
    built = _run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], tmp_path)
    # setuptools' deprecation of the `license` table (and any other) is gone
    assert "Deprecat" not in built.stdout + built.stderr
    (wheel,) = dist.glob("kerasopt-*.whl")
    (sdist,) = dist.glob("kerasopt-*.tar.gz")
    names = zipfile.ZipFile(wheel).namelist()
    assert {
        "kerasopt_cli/__init__.py",
        "kerasopt/cli/__main__.py",
        "kerasopt/cli/serve.py",
        "kerasopt/serve/app.py",
    } <= set(names)
    assert not [n for n in names if n.startswith(("recipes/", "tests/"))]
    info = wheel.name.split("-py3")[0] + ".dist-info"
    entry_points = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    assert "kerasopt = kerasopt_cli:main" in entry_points
    metadata = zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert any(n.endswith("/pyproject.toml") for n in tarfile.open(sdist).getnames())

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path)  # fresh: no system site-packages
    installed = _run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"{wheel}[serve]"],
        tmp_path,
    )
    assert "kerasopt" not in installed.stderr.lower(), installed.stderr  # no warning about us

    outside = tmp_path / "elsewhere"  # neither the checkout nor its parent
    outside.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_HOME")},
        "KERASOPT_ASSETS": str(assets),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    kerasopt = str(venv / "bin" / "kerasopt")
    where = _run(
        [str(venv / "bin" / "python"), "-c", "import kerasopt; print(kerasopt.__file__)"],
        outside,
        env,
    )
    assert str(venv) in where.stdout and str(ROOT) not in where.stdout
    help_text = _run([kerasopt, "finetune", "--help"], outside, env).stdout
    assert help_text.startswith("usage:") and "--data" in help_text
    assert "serve" in _run([kerasopt, "--help"], outside, env).stdout

    run = outside / "run"
    _run(
        [kerasopt, "finetune", "--data", str(synthetic_image_folder), "--out", str(run)]
        + ["--backbone", "mobilenet", "--alpha", "0.25", "--image-size", "32"]
        + ["--batch-size", "4", "--strategy", "top", "--epochs-head", "2"]
        + ["--epochs-finetune", "2", "--verbose", "0"],
        outside,
        env,
    )
    assert (run / "model.keras").is_file() and (run / "class_names.json").is_file()
    image = next((synthetic_image_folder / "val" / "bees").glob("*.jpg"))
    predicted = _run([kerasopt, "predict", str(run), str(image), "--top-k", "1"], outside, env)
    assert predicted.stdout.startswith(f"{image}: ") and (
        " ants " in predicted.stdout or " bees " in predicted.stdout
    )
