"""Curriculum vs random order vs anti-curriculum on MNIST with noisy labels, over seeds.

    python -m recipes.curriculum_study [--seeds 0 1 2] [--noise 0.4] [--epochs 20]
        [--pacing exponential] [--out docs/curriculum]

Data: the MNIST test set (t10k, offline assets), split once (stratified, seed 0) into 7,000
training and 3,000 held-out images. A share --noise of the training labels (chosen per seed)
is replaced by a different class drawn uniformly; the held-out labels stay clean.
Difficulty: `kerasopt.curriculum.loss_scores` under a reference MLP trained for
--score-epochs on the other half of the training set (two folds, so no example is scored by
a model that saw its label). Arms, all with the same network, initialization, optimizer and
number of updates (`kerasopt.curriculum.CurriculumSampler`, `fit` on its PyDataset):
- curriculum: the pacing function over the easiest-first order (Hacohen & Weinshall 2019);
- anti: the same pacing over the hardest-first order;
- random: the same pacing over a random order (fixed per seed);
- all data: every example every epoch (ordinary shuffled training).
The held-out accuracy and NLL are recorded after every epoch (nothing is selected on them);
the table gives the last epoch, the mean over all epochs and the best-epoch accuracy (shown
for the picture only: choosing that epoch would use the held-out labels). Writes
results.{json,md} and curves.png to --out.
"""

import argparse
import sys
from pathlib import Path

from kerasopt.cli._offline import find_assets, use_offline_keras_home

ASSETS = find_assets()
use_offline_keras_home(ASSETS)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasopt import curriculum, datasets, plotting  # noqa: E402
from kerasopt._io import write_json, write_text  # noqa: E402

BATCH = 128
ARMS = ("curriculum", "anti", "random", "all data")


def mlp(seed, width=256):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return model


def noisy_labels(y, share, seed):
    """`share` of the labels replaced by another class, uniformly; returns (labels, noisy mask)."""
    rng = np.random.default_rng(seed)
    noisy = np.zeros(len(y), bool)
    noisy[rng.choice(len(y), int(round(share * len(y))), replace=False)] = True
    labels = y.copy()
    labels[noisy] = (y[noisy] + rng.integers(1, 10, noisy.sum())) % 10
    return labels, noisy


def two_fold_scores(x, y, seed, epochs):
    """Loss of each example under a reference MLP trained on the other half."""
    rng = np.random.default_rng(seed + 100)
    fold = rng.permutation(len(y)) % 2
    out = np.zeros(len(y))
    for k in (0, 1):
        model = mlp(seed + 200 + k, width=128)
        model.fit(x[fold != k], y[fold != k], batch_size=BATCH, epochs=epochs, verbose=0)
        out[fold == k] = curriculum.loss_scores(model, x[fold == k], y[fold == k])
    return out


class HeldOut(keras.callbacks.Callback):
    """Held-out accuracy and NLL after every epoch (recorded only)."""

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y, self.accuracy, self.nll = x, y, [], []

    def on_epoch_end(self, epoch, logs=None):
        p = np.clip(
            self.model.predict(self.x, batch_size=1024, verbose=0).astype("float64"), 1e-12, 1
        )
        self.accuracy.append(float(np.mean(p.argmax(-1) == self.y)))
        self.nll.append(float(-np.mean(np.log(p[np.arange(len(self.y)), self.y]))))
        if logs is not None:
            logs["heldout_accuracy"] = self.accuracy[-1]


def run_arm(arm, pacing, scores, x, y, noisy, x_test, y_test, seed, epochs, verbose):
    if arm == "all data":
        pacing, order = curriculum.LinearPacing(1.0, 1), "curriculum"
    else:
        order = arm
    sampler = curriculum.CurriculumSampler(scores, pacing, BATCH, order=order, seed=seed)
    held_out = HeldOut(x_test, y_test)
    model = mlp(seed)
    model.fit(sampler.py_dataset(x, y), epochs=epochs, verbose=verbose, callbacks=[held_out])
    pools = [sampler.pool(e) for e in range(epochs)]
    return {
        "accuracy": held_out.accuracy,
        "nll": held_out.nll,
        "pool_share": [len(p) / len(y) for p in pools],
        "noisy_in_pool": [float(noisy[p].mean()) for p in pools],
    }


def markdown(summary, args, n_train, n_test, pacing):
    lines = [
        f"MNIST t10k split once (stratified, seed 0): {n_train} training images with {args.noise:.0%} of the labels "
        f"replaced by another class, {n_test} held-out images with clean labels; MLP 784-256-256-10, Adam 1e-3, "
        f"batch {BATCH}, {args.epochs} epochs of {int(np.ceil(n_train / BATCH))} updates; pacing {pacing!r}; "
        f"difficulty = loss under a two-fold reference MLP ({args.score_epochs} epochs); seeds {args.seeds}. "
        "Mean ± sd over seeds, on the held-out images.",
        "",
        "| order | last-epoch accuracy | last-epoch NLL | mean accuracy over epochs | best-epoch accuracy (not a selection) | noisy labels in the first pool |",
        "|---|---|---|---|---|---|",
    ]
    for arm in ARMS:
        s = summary[arm]
        lines.append(
            f"| {arm} | {s['last_accuracy']['mean']:.4f} ± {s['last_accuracy']['sd']:.4f} | "
            f"{s['last_nll']['mean']:.4f} ± {s['last_nll']['sd']:.4f} | {s['mean_accuracy']['mean']:.4f} ± "
            f"{s['mean_accuracy']['sd']:.4f} | {s['best_accuracy']['mean']:.4f} ± {s['best_accuracy']['sd']:.4f} | "
            f"{s['first_pool_noisy']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def stat(values):
    return {
        "mean": float(np.mean(values)),
        "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        "per_seed": [float(v) for v in values],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m recipes.curriculum_study", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--noise", type=float, default=0.4, help="share of training labels made wrong"
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--score-epochs", type=int, default=3)
    parser.add_argument("--pacing", choices=sorted(curriculum.PACINGS), default="exponential")
    parser.add_argument(
        "--start", type=float, default=0.2, help="the pacing function's first share"
    )
    parser.add_argument("--out", type=Path, default=Path("docs/curriculum"))
    args = parser.parse_args(argv)
    if ASSETS is None:
        sys.exit(
            "error: the MNIST test set needs the offline assets (../shared/assets or $KERASOPT_ASSETS)"
        )
    if not 0 <= args.noise < 0.9:
        sys.exit(f"error: --noise must be in [0, 0.9). Received: {args.noise}")
    pacing = {
        "exponential": curriculum.ExponentialPacing(args.start, 1.5, 2),
        "linear": curriculum.LinearPacing(args.start, args.epochs // 2),
        "root": curriculum.RootPacing(args.start, args.epochs // 2),
        "step": curriculum.StepPacing(args.start, args.epochs // 2),
    }[args.pacing]
    verbose = 1 if sys.stdout.isatty() else 2
    x, y = datasets.load("mnist", ASSETS)
    x_train, y_train, x_test, y_test = datasets.split(
        x.reshape(len(x), -1), y, test_fraction=0.3, seed=0
    )
    runs = []
    for seed in args.seeds:
        labels, noisy = noisy_labels(y_train, args.noise, seed)
        scores = two_fold_scores(x_train, labels, seed, args.score_epochs)
        run = {}
        for arm in ARMS:
            print(f"seed {seed}: {arm}")
            run[arm] = run_arm(
                arm,
                pacing,
                scores,
                x_train,
                labels,
                noisy,
                x_test,
                y_test,
                seed,
                args.epochs,
                verbose,
            )
            print(
                f"  held-out accuracy per epoch: {' '.join(f'{a:.3f}' for a in run[arm]['accuracy'])}"
            )
        runs.append(run)
    summary = {
        arm: {
            "last_accuracy": stat([r[arm]["accuracy"][-1] for r in runs]),
            "last_nll": stat([r[arm]["nll"][-1] for r in runs]),
            "mean_accuracy": stat([np.mean(r[arm]["accuracy"]) for r in runs]),
            "best_accuracy": stat([max(r[arm]["accuracy"]) for r in runs]),
            "first_pool_noisy": float(np.mean([r[arm]["noisy_in_pool"][0] for r in runs])),
        }
        for arm in ARMS
    }
    command = "python -m recipes.curriculum_study " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    write_json(
        args.out / "results.json",
        {
            "config": vars(args) | {"out": str(args.out), "pacing": repr(pacing)},
            "per_seed": runs,
            "summary": summary,
            "command": command,
        },
    )
    curves = {
        arm: (
            np.mean([r[arm]["accuracy"] for r in runs], axis=0),
            np.std([r[arm]["accuracy"] for r in runs], axis=0),
        )
        for arm in ARMS
    }
    pools = {
        arm: (runs[0][arm]["pool_share"], np.mean([r[arm]["noisy_in_pool"] for r in runs], axis=0))
        for arm in ARMS
    }
    plotting.plot_curriculum(
        curves,
        pools,
        args.out / "curves.png",
        title=f"MNIST, {args.noise:.0%} noisy labels: held-out accuracy by training order",
    )
    text = markdown(summary, args, len(y_train), len(y_test), pacing)
    write_text(
        args.out / "results.md",
        f"# Curriculum learning on MNIST with noisy labels\n\n{text}\n"
        f"![held-out accuracy per epoch](curves.png)\n\nCommand: `{command}`\n",
    )
    print("\n" + text)


if __name__ == "__main__":
    main()
