"""Snapshot ensemble vs a single model at the same epoch budget (Huang et al. 2017), over seeds.

    python -m recipes.snapshot_ensemble [--dataset mnist|digits] [--epochs 20] [--snapshots 5] [--seeds 0 1 2]

Per seed, on the same stratified split: (a) one model trained with SGD + momentum and a
cosine decay over the whole budget (Keras' CosineDecay), (b) the same network trained with
`kerasopt.callbacks.SnapshotEnsemble` (the same number of epochs, `--snapshots` cosine
cycles), evaluated as the ensemble of all snapshots (`kerasopt.ensembles.load`), of the
best half (+1) by validation loss (`top_k`), and as its last snapshot alone. Writes results.md / results.json and schedules.png to --out.
"""

import argparse
import json
from pathlib import Path

from kerasopt.cli._offline import find_assets, use_offline_keras_home

ASSETS = find_assets()
use_offline_keras_home(ASSETS)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasopt import datasets, ensembles, plotting  # noqa: E402
from kerasopt._io import write_json, write_text  # noqa: E402
from kerasopt.callbacks import SnapshotEnsemble  # noqa: E402


def load_data(name):
    x, y = datasets.load(name, ASSETS)
    return datasets.split(x.reshape(len(x), -1), y, test_fraction=0.2, seed=0)


def network(input_dim, width, seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((input_dim,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def compile_model(model, learning_rate):
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def scores(model, x, y):
    p = np.clip(model.predict(x, batch_size=1024, verbose=0), 1e-12, 1.0)
    return {
        "accuracy": float(np.mean(p.argmax(-1) == y)),
        "nll": float(-np.mean(np.log(p[np.arange(len(y)), y]))),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=["mnist", "digits"], default="mnist")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--snapshots", type=int, default=5)
    parser.add_argument("--max-lr", type=float, default=0.1, help="peak rate of both schedules")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("saved_models/snapshot_ensemble"))
    parser.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args(argv)

    x_train, y_train, x_test, y_test = load_data(args.dataset)
    x_fit, y_fit, x_val, y_val = datasets.split(x_train, y_train, test_fraction=0.1, seed=1)
    steps = int(np.ceil(len(x_fit) / args.batch_size))
    total = args.epochs * steps
    single_schedule = keras.optimizers.schedules.CosineDecay(args.max_lr, decay_steps=total)
    top_k = max(1, args.snapshots // 2 + 1)
    best = f"best {top_k} snapshots by val_loss"
    rows = {
        "single model (cosine decay)": [],
        "snapshot ensemble (all)": [],
        best: [],
        "last snapshot alone": [],
    }
    for seed in args.seeds:
        print(f"seed {seed}: single model, cosine decay over {args.epochs} epochs")
        single = compile_model(network(x_fit.shape[1], args.width, seed), single_schedule)
        single.fit(
            x_fit, y_fit, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose
        )
        rows["single model (cosine decay)"].append(scores(single, x_test, y_test))

        print(f"seed {seed}: snapshot ensemble, {args.snapshots} cycles over {args.epochs} epochs")
        directory = args.out / f"seed_{seed}"
        snap = compile_model(network(x_fit.shape[1], args.width, seed), args.max_lr)
        snap.fit(
            x_fit,
            y_fit,
            batch_size=args.batch_size,
            epochs=args.epochs,
            validation_data=(x_val, y_val),
            verbose=args.verbose,
            callbacks=[SnapshotEnsemble(directory, args.snapshots, args.max_lr)],
        )
        rows["snapshot ensemble (all)"].append(scores(ensembles.load(directory), x_test, y_test))
        rows[best].append(
            scores(ensembles.load(directory, top_k=top_k, metric="val_loss"), x_test, y_test)
        )
        rows["last snapshot alone"].append(scores(snap, x_test, y_test))

    summary = {
        name: {
            m: {
                "mean": float(np.mean([r[m] for r in runs])),
                "std": float(np.std([r[m] for r in runs], ddof=1)) if len(runs) > 1 else 0.0,
                "runs": [r[m] for r in runs],
            }
            for m in ("accuracy", "nll")
        }
        for name, runs in rows.items()
    }
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    config.update(train_examples=len(x_fit), test_examples=len(x_test), steps_per_epoch=steps)
    write_json(args.out / "results.json", {"config": config, "results": summary})
    lines = [
        f"Test set of {len(x_test)} {args.dataset} images; {args.epochs} epochs each; mean ± std over seeds "
        f"{args.seeds}; MLP {args.width}-{args.width}, SGD momentum 0.9, peak rate {args.max_lr}.",
        "",
        "| model | test accuracy | test NLL |",
        "|---|---|---|",
    ]
    for name, s in summary.items():
        acc, nll = s["accuracy"], s["nll"]
        lines.append(
            f"| {name} | {acc['mean']:.4f} ± {acc['std']:.4f} | {nll['mean']:.4f} ± {nll['std']:.4f} |"
        )
    write_text(args.out / "results.md", "\n".join(lines) + "\n")
    snapshot_schedule = SnapshotEnsemble(args.out, args.snapshots, args.max_lr).schedule_for(
        args.epochs, steps
    )
    plotting.plot_schedule(
        [single_schedule, snapshot_schedule],
        total,
        args.out / "schedules.png",
        title="cosine decay (single model) vs snapshot cycles",
    )
    print("\n".join(lines))
    print(
        json.dumps(
            {
                "written": [
                    str(args.out / f) for f in ("results.md", "results.json", "schedules.png")
                ]
            }
        )
    )


if __name__ == "__main__":
    main()
