"""Split an image folder's val/ into a validation and a test share, so that nothing that is
reported was used for selection.

    kerasopt holdout-split SRC DST [--test-fraction 0.5] [--seed 0]

SRC has train/CLASS/* and val/CLASS/* (e.g. ants vs bees). DST gets train/ (a link to
SRC/train), and val/CLASS/* and test/CLASS/* (links to the images of SRC/val), a stratified
split by `kerasopt.datasets.split`. Fine-tune the teacher on DST (it reads train/ and val/
only; early stopping and snapshot ranking see val/), distil with `recipes.distill`, and
report on test/.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from kerasopt.datasets import split


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="kerasopt holdout-split", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("source", type=Path, help="folder with train/ and val/ of class subfolders")
    parser.add_argument("destination", type=Path, help="new folder: train/ val/ test/ of links")
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=0.5,
        help="share of each class of val/ that goes to test/",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    source = args.source.resolve()
    if not (source / "train").is_dir() or not (source / "val").is_dir():
        sys.exit(f"error: {source} must hold train/ and val/ folders of class subfolders")
    if args.destination.exists():
        sys.exit(f"error: {args.destination} exists; choose a new folder")
    classes = sorted(p.name for p in (source / "train").iterdir() if p.is_dir())
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (source / "val" / name).iterdir() if p.is_file())
        paths += [str(p) for p in files]
        labels += [label] * len(files)
    val, _, test, _ = split(np.array(paths), np.array(labels), args.test_fraction, args.seed)
    tmp = args.destination.with_name(f".{args.destination.name}.tmp")
    for part, files in (("val", val), ("test", test)):
        for name in classes:
            (tmp / part / name).mkdir(parents=True, exist_ok=True)
        for f in files:
            os.symlink(f, tmp / part / Path(f).parent.name / Path(f).name)
    os.symlink(source / "train", tmp / "train")
    os.replace(tmp, args.destination)
    print(
        f"{args.destination}: train/ -> {source / 'train'}, val/ {len(val)} and test/ {len(test)} images of {source / 'val'}"
    )


if __name__ == "__main__":
    main()
