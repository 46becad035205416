"""Build the folder that travels to a borrowed GPU machine for `benchmarks.gpu_finetune`.

The GPU machines have JAX with CUDA, NumPy, Pillow, h5py, absl-py, rich and ml-dtypes, but no
TensorFlow, no Keras, no optree and no namex, no network, and take at most 64 MiB of files per
run. This script writes `.gpu_carry/` (git-ignored) with:
  - the wheels of Keras and its two missing pure dependencies, and of matplotlib and its
    dependencies (the recipe writes its plots) (`pip download`, CPython 3.12, manylinux x86-64:
    the machines' Python);
  - `keras_home/models/`: the one ImageNet weight file MobileNetV2 224 needs, from the shared
    assets' Keras cache;
  - `hymenoptera224/`: ants vs bees (train/ and val/) re-encoded as 224x224 JPEGs, listed and
    checked by `kerasopt.transfer`'s folder conventions (the GIF placeholder gives its first
    frame, as in the recipe);
then prints the total size, refuses more than 60 MiB, and prints the device command.

Run from the repository root: python -m benchmarks._gpu_carry [--assets ../shared/assets]
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

CARRY = Path(".gpu_carry")
WHEELS = (  # Keras and its two missing pure dependencies; matplotlib (the recipe's plots) and its own
    "keras==3.15.1",
    "optree==0.20.0",
    "namex==0.1.0",
    "matplotlib==3.11.2",
    "contourpy==1.3.3",
    "cycler==0.12.1",
    "fonttools==4.69.1",
    "kiwisolver==1.5.1",
    "pyparsing==3.3.3",
    "python-dateutil==4.0.0",
    "six==1.17.0",
)
WEIGHTS = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)
LIMIT_MIB = 60
SIZE = 224

DEVICE_COMMAND = (
    "set -o pipefail; "
    "python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir "
    "--target /tmp/site .gpu_carry/*.whl || exit 1; "
    "export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 KERAS_HOME=/tmp/keras_home; "
    "cp -r .gpu_carry/keras_home /tmp/keras_home; "
    "nvidia-smi -L; "
    "timeout 330 python3 -m benchmarks.gpu_finetune --out $OUT 2>&1 | tee $OUT/gpu_finetune.log"
)


def _ignored(path):
    """Make sure git ignores `path` (a committed .gitignore line does; else info/exclude)."""
    check = subprocess.run(["git", "check-ignore", "-q", str(path)], check=False)
    if check.returncode == 0:
        return
    common = subprocess.run(
        ["git", "rev-parse", "--git-common-dir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    with open(Path(common) / "info" / "exclude", "a") as handle:
        handle.write(f"/{path.name}/\n")


def _download_wheels(folder):
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-q",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.12",
        "--implementation",
        "cp",
        "-d",
        str(folder),
    ]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    subprocess.run(command + list(WHEELS), check=True)


def _reencode(source, target):
    """train/ and val/ of `source` as SIZExSIZE JPEGs under `target`; returns the image count."""
    from PIL import Image

    from kerasopt.transfer._images import folder_examples
    from kerasopt.transfer.image_folder_sequence import _open_rgb, check_decode

    (train, train_labels), (val, val_labels), _, class_names = folder_examples(
        source, 0.2, 0, check_decode
    )
    count = 0
    for split, paths, labels in (("train", train, train_labels), ("val", val, val_labels)):
        for path, label in zip(paths, labels, strict=True):
            folder = target / split / class_names[label]
            folder.mkdir(parents=True, exist_ok=True)
            pixels = _open_rgb(path, (SIZE, SIZE))
            Image.fromarray(pixels).save(folder / (Path(path).stem + ".jpg"), quality=90)
            count += 1
    return count


def _size(folder):
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def _tree_size():
    """Bytes of the files git would send besides the carry folder (tracked + untracked)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    return sum(os.path.getsize(p) for p in listed if p and os.path.isfile(p))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--assets", default=os.environ.get("KERASOPT_ASSETS", str(Path("..") / "shared" / "assets"))
    )
    parser.add_argument("--out", default=str(CARRY))
    args = parser.parse_args(argv)
    assets, carry = Path(args.assets), Path(args.out)
    weights = assets / "keras_home" / "models" / WEIGHTS
    images = assets / "datasets" / "hymenoptera_data"
    for needed in (weights, images):
        if not needed.exists():
            parser.error(f"missing shared asset {needed} (set --assets or KERASOPT_ASSETS)")
    if carry.exists():
        shutil.rmtree(carry)
    carry.mkdir(parents=True)
    _ignored(carry)
    _download_wheels(carry)
    models = carry / "keras_home" / "models"
    models.mkdir(parents=True)
    shutil.copyfile(weights, models / WEIGHTS)
    count = _reencode(images, carry / "hymenoptera224")
    carried, tree = _size(carry), _tree_size()
    mib = 1024 * 1024
    print(
        f"{carry}: {carried / mib:.1f} MiB ({len(list(carry.glob('*.whl')))} wheels, "
        f"{WEIGHTS}, {count} images at {SIZE} px); the rest of the working tree "
        f"{tree / mib:.1f} MiB; together {(carried + tree) / mib:.1f} MiB"
    )
    if carried + tree > LIMIT_MIB * mib:
        print(f"Refusing: more than {LIMIT_MIB} MiB would travel (the limit is 64 MiB).")
        return 1
    print(f'carry: ["{carry}"]')
    print(f"device command:\n{DEVICE_COMMAND}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
