"""The LR range test on real data, plus a picture of every kerasopt schedule.

    python -m recipes.lr_range_test [--dataset mnist|digits] [--steps 200]

Runs `kerasopt.callbacks.LRFinder` (Smith 2017, sec. 3.3) on a small MLP with SGD + momentum,
then trains the same initial model for `--epochs` epochs at the suggested rate and at 10x
and 1/10x of it, to see whether the suggestion is a sensible rate. Writes lr_finder.png,
schedules.png, results.md and results.json to --out.
"""

import argparse
from pathlib import Path

from kerasopt.cli._offline import find_assets, use_offline_keras_home

ASSETS = find_assets()
use_offline_keras_home(ASSETS)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasopt import plotting, schedules  # noqa: E402
from kerasopt._io import write_json, write_text  # noqa: E402
from kerasopt.callbacks import LRFinder  # noqa: E402
from recipes.snapshot_ensemble import compile_model, load_data, network  # noqa: E402


def gallery(path):
    """One plot of the kerasopt schedules over 1,000 steps."""
    return plotting.plot_schedule(
        [
            schedules.LinearDecay(0.1, 0.001, 800),
            schedules.StepDecay(0.1, 0.5, 200),
            schedules.Warmup(keras.optimizers.schedules.CosineDecay(0.1, 900), warmup_steps=100),
            schedules.CyclicLR(0.01, 0.1, 125, mode="triangular2"),
            schedules.OneCycle(0.1, 1000),
        ],
        1000,
        path,
        title="kerasopt schedules",
    )


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=["mnist", "digits"], default="mnist")
    parser.add_argument("--min-lr", type=float, default=1e-4)
    parser.add_argument("--max-lr", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument(
        "--epochs", type=int, default=3, help="training epochs of each check of the suggestion"
    )
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("saved_models/lr_range_test"))
    args = parser.parse_args(argv)

    x_train, y_train, x_test, y_test = load_data(args.dataset)
    model = compile_model(network(x_train.shape[1], args.width, args.seed), 0.01)
    initial = model.get_weights()
    finder = LRFinder(args.min_lr, args.max_lr, args.steps)
    epochs = int(np.ceil(args.steps / np.ceil(len(x_train) / args.batch_size)))
    model.fit(
        x_train, y_train, batch_size=args.batch_size, epochs=epochs, callbacks=[finder], verbose=1
    )
    finder.plot(args.out / "lr_finder.png")
    gallery(args.out / "schedules.png")
    lowest = float(finder.history["lr"][int(np.nanargmin(finder.history["smoothed_loss"]))])
    print(
        f"suggested learning rate {finder.suggestion:.3g}; smoothed loss lowest at {lowest:.3g}; "
        f"stopped after {len(finder.history['lr'])} steps (diverged: {finder.diverged})"
    )

    checks = []
    for factor in (0.1, 1.0, 10.0):
        lr = factor * finder.suggestion
        trial = compile_model(network(x_train.shape[1], args.width, args.seed), lr)
        trial.set_weights(initial)
        trial.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
        loss, accuracy = trial.evaluate(x_test, y_test, verbose=0)
        checks.append(
            {
                "factor": factor,
                "learning_rate": lr,
                "test_loss": float(loss),
                "test_accuracy": float(accuracy),
            }
        )
        print(f"lr {lr:.3g} ({factor} x suggestion): test accuracy {accuracy:.4f}, loss {loss:.4f}")

    write_json(
        args.out / "results.json",
        {
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "suggestion": finder.suggestion,
            "lr_at_lowest_smoothed_loss": lowest,
            "diverged": finder.diverged,
            "sweep_steps": len(finder.history["lr"]),
            "checks": checks,
        },
    )
    lines = [
        f"LR range test on {args.dataset} ({len(x_train)} training images), SGD momentum 0.9, sweep "
        f"{args.min_lr:g} to {args.max_lr:g} over at most {args.steps} steps: stopped after "
        f"{len(finder.history['lr'])} steps (diverged: {finder.diverged}); suggestion {finder.suggestion:.3g}, "
        f"smoothed loss lowest at {lowest:.3g}. Then {args.epochs} epochs from the same initial weights:",
        "",
        "| learning rate | test accuracy | test loss |",
        "|---|---|---|",
    ]
    lines += [
        f"| {c['learning_rate']:.3g} ({c['factor']:g} x suggestion) | {c['test_accuracy']:.4f} | "
        f"{c['test_loss']:.4f} |"
        for c in checks
    ]
    write_text(args.out / "results.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
