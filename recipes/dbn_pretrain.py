"""DBN-pretrained vs randomly initialized MLPs on MNIST with 100, 1,000 and all labels.

Data: the offline MNIST test set (10,000 digits) split with a fixed seed into 8,000
training and 2,000 test images (`kerasopt.datasets.split`), intensities in [0, 1]. For each
seed, a DBN of Bernoulli RBMs (CD-1) is pretrained on all 8,000 training images, without
labels; then three MLPs of the same shape are fine-tuned on the first n labelled images of a
seeded stratified subset, with the same optimizer and the same number of updates:

- `dbn`: sigmoid hidden layers initialized from the RBMs (`DBN.to_classifier`),
- `glorot`: sigmoid hidden layers, Glorot-uniform weights, zero biases,
- `he`: ReLU hidden layers, He-normal weights, zero biases (He init belongs with ReLU).

Writes results.md / results.json (test accuracy, mean +- std over seeds) and
first_layer_filters.png to --out.

    python -m recipes.dbn_pretrain                 # ~5 min on 2 cores
    python -m recipes.dbn_pretrain --seeds 0 --labels 100 --pretrain-epochs 2 --steps 100  # smoke
"""

import argparse
import math
from pathlib import Path

from kerasopt.cli._offline import find_assets, use_offline_keras_home

ASSETS = find_assets()
use_offline_keras_home(ASSETS)
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasopt import datasets, plotting  # noqa: E402
from kerasopt._io import write_json, write_text  # noqa: E402
from kerasopt.pretraining import DBN  # noqa: E402

INITS = ("dbn", "glorot", "he")


def random_mlp(hidden, init, n_classes, seed):
    activation, initializer = (
        ("sigmoid", keras.initializers.GlorotUniform)
        if init == "glorot"
        else ("relu", keras.initializers.HeNormal)
    )
    layers = [
        keras.layers.Dense(n, activation, kernel_initializer=initializer(seed + i))
        for i, n in enumerate(hidden)
    ]
    head = keras.layers.Dense(
        n_classes, "softmax", kernel_initializer=keras.initializers.GlorotUniform(seed + 99)
    )
    return keras.Sequential([keras.Input((784,)), *layers, head])


def fine_tune(model, x, y, x_test, y_test, args, seed):
    """`args.steps` SGD-momentum updates on (x, y); returns the test accuracy."""
    model.compile(
        optimizer=keras.optimizers.SGD(args.lr, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    data = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=seed)
        .repeat()
        .batch(args.batch_size)
    )
    model.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0)
    return float(model.evaluate(x_test, y_test, batch_size=500, verbose=0)[1])


def label_subset(y, n, seed):
    """Indices of n training labels: stratified, seeded (all indices when n >= len(y))."""
    if n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    picks = [idx[: int(math.ceil(n * len(idx) / len(y)))] for idx in per_class]
    return rng.permutation(np.concatenate(picks))[:n]


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--hidden", type=int, nargs="+", default=[256, 256], help="hidden layer sizes"
    )
    parser.add_argument(
        "--labels", type=int, nargs="+", default=[100, 1000, 8000], help="labelled training images"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pretrain-epochs", type=int, default=10)
    parser.add_argument("--pretrain-lr", type=float, default=0.05)
    parser.add_argument(
        "--steps", type=int, default=1000, help="fine-tuning updates (the same for every model)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--lr", type=float, default=0.05, help="fine-tuning SGD learning rate (momentum 0.9)"
    )
    parser.add_argument("--out", default="saved_models/dbn_pretrain")
    args = parser.parse_args()
    if ASSETS is None:
        raise SystemExit(
            "offline assets not found: set KERASOPT_ASSETS or place them at ../shared/assets"
        )

    images, labels = datasets.load("mnist", ASSETS)
    x_train, y_train, x_test, y_test = datasets.split(
        images.reshape(len(images), -1), labels, test_fraction=0.2, seed=0
    )
    out = Path(args.out)
    runs = []
    for seed in args.seeds:
        print(
            f"== seed {seed}: pretraining DBN {args.hidden} on {len(x_train)} unlabelled images",
            flush=True,
        )
        keras.utils.set_random_seed(seed)
        dbn = DBN(args.hidden, seed=seed)
        dbn.pretrain(
            x_train,
            epochs=args.pretrain_epochs,
            batch_size=100,
            optimizer=keras.optimizers.SGD(args.pretrain_lr, momentum=0.5),
            verbose=2,
        )
        if seed == args.seeds[0]:
            plotting.plot_filters(
                keras.ops.convert_to_numpy(dbn.rbms[0].kernel),
                out / "first_layer_filters.png",
                (28, 28),
                title=f"First RBM: 64 of {args.hidden[0]} filters",
            )
        progress = keras.utils.Progbar(len(args.labels) * len(INITS), stateful_metrics=["accuracy"])
        for n in args.labels:
            idx = label_subset(y_train, n, seed)
            for init in INITS:
                keras.utils.set_random_seed(seed)
                model = (
                    dbn.to_classifier(10, seed=seed + 99)
                    if init == "dbn"
                    else random_mlp(args.hidden, init, 10, seed)
                )
                accuracy = fine_tune(model, x_train[idx], y_train[idx], x_test, y_test, args, seed)
                runs.append(
                    {"seed": seed, "labels": len(idx), "init": init, "test_accuracy": accuracy}
                )
                progress.add(1, values=[("accuracy", accuracy)])

    table = ["| labels | " + " | ".join(INITS) + " |", "|---|" + "---|" * len(INITS)]
    summary = {}
    for n in sorted({r["labels"] for r in runs}):
        cells = []
        for init in INITS:
            acc = np.array(
                [r["test_accuracy"] for r in runs if r["labels"] == n and r["init"] == init]
            )
            summary[f"{n}/{init}"] = {
                "mean": acc.mean(),
                "std": acc.std(ddof=1) if len(acc) > 1 else 0.0,
                "n": len(acc),
            }
            cells.append(f"{100 * acc.mean():.1f} ± {100 * summary[f'{n}/{init}']['std']:.1f}")
        table.append(f"| {n} | " + " | ".join(cells) + " |")
    header = (
        f"Test accuracy (%) on {len(x_test)} held-out MNIST digits, mean ± std over seeds {args.seeds}. "
        f"MLP 784-{'-'.join(map(str, args.hidden))}-10; DBN pretrained with CD-1 for {args.pretrain_epochs} epochs "
        f"per layer on {len(x_train)} unlabelled images; fine-tuning: {args.steps} updates of SGD "
        f"(lr {args.lr}, momentum 0.9), batch {args.batch_size}, for every model."
    )
    write_text(out / "results.md", header + "\n\n" + "\n".join(table) + "\n")
    write_json(out / "results.json", {"args": vars(args), "summary": summary, "runs": runs})
    print(header + "\n\n" + "\n".join(table))


if __name__ == "__main__":
    main()
