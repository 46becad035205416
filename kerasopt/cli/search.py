"""Coarse-to-fine hyperparameter search (kerasopt.search on keras-tuner).

    kerasopt search --data digits --trials 24 [--rounds 3] [--epochs 10] [--lr-range-test]
    kerasopt search --data mnist --trials 24
    kerasopt search --data FOLDER --trials 12 [--backbone mobilenet_v2]

digits / mnist: a small MLP (`kerasopt.search.hypermodels.SmallClassifier`: width, dropout,
optimizer, log-uniform rate, Averaged/Lookahead wrapper), stratified train/val/test split.
FOLDER (class subfolders of images): a two-phase fine-tune of an ImageNet backbone
(`FineTuneHyperModel`: head and fine-tune rates, label smoothing, unfreeze depth).
`--lr-range-test` sets the learning-rate range from an LR range test first (digits/mnist).

Writes to --out: trials.md / trials.json (every trial, its round, score and values),
rounds.png (score against the main hyperparameters, one colour per round), the top-k
ensemble (ensemble/model.keras + SavedModel), search.log (one line per epoch) and the
keras-tuner project (tuner/, resumable: run the same command again to continue).
"""

import argparse
import sys
from pathlib import Path

from kerasopt.cli._offline import find_assets, use_offline_keras_home

ASSETS = find_assets()
use_offline_keras_home(ASSETS)

import keras  # noqa: E402

from kerasopt import datasets  # noqa: E402
from kerasopt._io import write_json  # noqa: E402
from kerasopt.callbacks import LRFinder  # noqa: E402
from kerasopt.search import CoarseToFineSearch, lr_range_from_finder  # noqa: E402
from kerasopt.search.hypermodels import FineTuneHyperModel, SmallClassifier, one_hot  # noqa: E402
from kerasopt.search.report import write_report  # noqa: E402


def parse(argv):
    parser = argparse.ArgumentParser(
        prog="kerasopt search",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data", required=True, help="digits, mnist, or a folder of class subfolders"
    )
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--top-k", type=int, default=3, help="trials that set each round's ranges")
    parser.add_argument("--ensemble", type=int, default=3, help="members of the top-k ensemble")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per trial (digits/mnist)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr-range-test", action="store_true")
    parser.add_argument(
        "--backbone", default="mobilenet_v2", help="FOLDER data: the ImageNet backbone"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("saved_models/search"))
    args = parser.parse_args(argv)
    if args.data not in ("digits", "mnist") and not Path(args.data).is_dir():
        parser.error(f"--data must be digits, mnist or an existing folder. Received: {args.data!r}")
    for name in ("trials", "rounds", "top_k", "ensemble", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(
                f"--{name.replace('_', '-')} must be >= 1. Received: {getattr(args, name)}"
            )
    if args.rounds > args.trials or args.ensemble > args.trials:
        parser.error(
            f"--rounds and --ensemble must be <= --trials. Received: {args.rounds}, {args.ensemble}, {args.trials}"
        )
    return args


def lr_range(hypermodel, x, y, batch_size):
    """LR range test on the default configuration; returns the (low, high) search range."""
    import keras_tuner as kt

    model = hypermodel.build(kt.HyperParameters())
    finder = LRFinder(min_lr=1e-5, max_lr=3.0, steps=100)
    model.fit(x, y, batch_size=batch_size, epochs=100, callbacks=[finder], verbose=0)
    return lr_range_from_finder(finder)


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    keras.utils.set_random_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    common = {
        "max_trials": args.trials,
        "trials_per_round": -(-args.trials // args.rounds),
        "top_k": args.top_k,
        "seed": args.seed,
        "directory": args.out,
        "project_name": "tuner",
        "objective": "val_loss",
    }
    log = keras.callbacks.CSVLogger(str(args.out / "search.log"), append=True)
    if args.data in ("digits", "mnist"):
        x, y = datasets.load(args.data, ASSETS)
        x_fit, y_fit, x_test, y_test = datasets.split(x, y, 0.2, seed=args.seed)
        x_train, y_train, x_val, y_val = datasets.split(x_fit, y_fit, 0.25, seed=args.seed)
        hypermodel = SmallClassifier(x.shape[1:], 10)
        if args.lr_range_test:
            low, high = lr_range(hypermodel, x_train, y_train, args.batch_size)
            print(f"LR range test: learning_rate in [{low:.3g}, {high:.3g}]")
            hypermodel = SmallClassifier(x.shape[1:], 10, learning_rate_range=(low, high))
        tuner = CoarseToFineSearch(hypermodel, **common)
        tuner.search(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            epochs=args.epochs,
            batch_size=args.batch_size,
            callbacks=[log],
            verbose=2,
        )
        rates = [f"{o}_learning_rate" for o in hypermodel.optimizers]
        summary = write_report(
            tuner,
            args.out,
            rates + ["units", "dropout"],
            log_axes=(*rates, "units"),
            k=args.ensemble,
            test_data=(x_test, y_test),
        )
    else:
        from kerasopt.transfer import image_dataset

        data = image_dataset(args.data, batch_size=args.batch_size, seed=args.seed)
        n = len(data.class_names)
        tuner = CoarseToFineSearch(FineTuneHyperModel(args.backbone, n), **common)
        tuner.search(
            one_hot(data.train, n), validation_data=one_hot(data.val, n), callbacks=[log], verbose=2
        )
        summary = write_report(
            tuner,
            args.out,
            [
                "head_learning_rate",
                "finetune_learning_rate",
                "label_smoothing",
                "unfreeze_fraction",
            ],
            log_axes=("head_learning_rate", "finetune_learning_rate"),
            k=args.ensemble,
        )
    write_json(
        args.out / "summary.json",
        {"command": ["kerasopt", "search", *(argv or sys.argv[1:])], **summary},
    )
    print(summary)


if __name__ == "__main__":
    main()
