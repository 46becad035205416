"""Regularizers and augmentation compared on MNIST (t10k) with a small residual CNN from scratch.

Variants, all with the same network, optimizer, epochs and batch size:
  none            plain network (centre 24x24 crop of the 28x28 digit, which loses no ink)
  dropout         + Dropout(0.5) before the classifier
  dropconnect     the 64-unit hidden Dense replaced by DropConnectDense(64, rate=0.5)
  stochastic_depth three residual blocks, survival 1 -> 0.5 linear decay (Huang et al. 2016)
  augmentation    PCAColorAugmentation (adapted on the training images; one channel, so a random
                  brightness shift) + RandomResizedCrop(24, 24, scale=(0.5, 1)); no flips: a
                  mirrored digit is not the same digit (2, 3, 4, 5, 7, 9 change or lose meaning)
and, evaluated on the trained augmentation models without retraining:
  augmentation + TTA five-crop   mean over the four corner and the centre 24x24 crops
  augmentation + TTA ten-crop    the same plus their horizontal flips (as in Krizhevsky et al.;
                                 flips are NOT label-preserving for digits, reported to show it)

Run: python -m recipes.regularization [--seeds 3 --epochs 6 --train-size 2500 --test-size 3000]
Smoke: python -m recipes.regularization --seeds 1 --epochs 1 --train-size 600 --test-size 200 \
    --variants none augmentation --docs ''
Writes saved_models/regularization/results.{md,json} and augmentation_views.png (training samples
of the augmentation and the ten test-time views of one digit) and copies them to docs/regularization/.
"""

import argparse
import shutil
import time
from pathlib import Path

from kerasopt.cli._offline import find_assets, use_offline_keras_home

VARIANTS = ("none", "dropout", "dropconnect", "stochastic_depth", "augmentation")


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (0, 1, ...)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--train-size",
        type=int,
        default=2500,
        help="training images taken from the 7,000-image split",
    )
    parser.add_argument(
        "--test-size", type=int, default=3000, help="test images (the split holds 3,000)"
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=VARIANTS,
        default=list(VARIANTS),
        help="variants to train (default: all; the TTA rows come with augmentation)",
    )
    parser.add_argument("--out", default="saved_models/regularization")
    parser.add_argument(
        "--docs", default="docs/regularization", help="folder the tables are copied to ('' to skip)"
    )
    return parser.parse_args()


def build(variant, x_train, seed):
    import keras

    from kerasopt import layers

    blocks = 3
    survival = (
        layers.linear_decay_survival_probabilities(blocks, 0.5)
        if variant == "stochastic_depth"
        else None
    )
    inputs = keras.Input((28, 28, 1))
    if variant == "augmentation":
        x = layers.PCAColorAugmentation(channels=1, seed=seed).adapt(x_train)(inputs)
        x = layers.RandomResizedCrop(24, 24, scale=(0.5, 1.0), seed=seed)(x)
    else:
        x = keras.layers.CenterCrop(24, 24)(inputs)
    core_in = keras.Input((24, 24, 1))
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(core_in)
    for b in range(blocks):
        branch = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(h)
        branch = keras.layers.Conv2D(16, 3, padding="same")(branch)
        joined = (
            layers.StochasticDepth(survival[b], seed=seed + b)([h, branch])
            if survival
            else keras.layers.Add()([h, branch])
        )
        h = keras.layers.ReLU()(joined)
        if b < 2:
            h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Flatten()(h)
    if variant == "dropconnect":
        h = layers.DropConnectDense(64, rate=0.5, activation="relu", seed=seed)(h)
    else:
        h = keras.layers.Dense(64, activation="relu")(h)
    if variant == "dropout":
        h = keras.layers.Dropout(0.5, seed=seed)(h)
    core = keras.Model(core_in, keras.layers.Dense(10, activation="softmax")(h), name="core")
    model = keras.Model(inputs, core(x))
    model.compile(
        keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model, core


def main():
    args = parse_args()
    assets = find_assets()
    if assets is None:
        raise SystemExit(
            "offline assets not found: set KERASOPT_ASSETS or place them at ../shared/assets"
        )
    use_offline_keras_home(assets)
    import keras
    import numpy as np

    from kerasopt import datasets, layers
    from kerasopt._io import write_json, write_text
    from kerasopt.plotting import plot_image_grid

    images, labels = datasets.load("mnist", assets)
    x_train, y_train, x_test, y_test = datasets.split(images[..., None], labels, 0.3, seed=0)
    x_train, y_train = x_train[: args.train_size], y_train[: args.train_size]
    x_test, y_test = x_test[: args.test_size], y_test[: args.test_size]

    out = Path(args.out)
    digit = x_test[:1]
    augment = keras.Sequential(
        [
            layers.PCAColorAugmentation(channels=1, seed=0).adapt(x_train),
            layers.RandomResizedCrop(24, 24, scale=(0.5, 1.0), seed=0),
        ]
    )
    plot_image_grid(
        [
            [digit[0]] + [np.asarray(augment(digit, training=True))[0] for _ in range(9)],
            [
                np.asarray(v)[0]
                for v in layers.TestTimeAugmentation(None, "ten_crop", 24).views(digit)
            ],
        ],
        out / "augmentation_views.png",
        [
            ["original"] + [f"train {i}" for i in range(1, 10)],
            [
                f"{name}{flip}"
                for flip in ("", " flip")
                for name in ("TL", "TR", "BL", "BR", "centre")
            ],
        ],
    )
    variants = [v for v in VARIANTS if v in args.variants]
    tta = ("augmentation + TTA five-crop", "augmentation + TTA ten-crop")
    rows = {v: [] for v in variants + list(tta if "augmentation" in variants else ())}
    bar = keras.utils.Progbar(len(variants) * args.seeds, unit_name="run")
    start = time.time()
    for seed in range(args.seeds):
        for variant in variants:
            keras.utils.set_random_seed(seed)
            model, core = build(variant, x_train, seed)
            model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
            rows[variant].append(model.evaluate(x_test, y_test, verbose=0)[1])
            if variant == "augmentation":
                for mode, name in (("five_crop", "five-crop"), ("ten_crop", "ten-crop")):
                    probs = layers.TestTimeAugmentation(core, mode, crop_size=24).predict(
                        x_test, verbose=0
                    )
                    rows[f"augmentation + TTA {name}"].append(
                        float(np.mean(probs.argmax(-1) == y_test))
                    )
            bar.add(1, [("test_acc", rows[variant][-1])])

    command = "python -m recipes.regularization " + " ".join(
        f"--{k.replace('_', '-')} {v}"
        for k, v in vars(args).items()
        if k in ("seeds", "epochs", "batch_size", "train_size", "test_size")
    )
    if variants != list(VARIANTS):
        command += " --variants " + " ".join(variants)
    results = {
        "command": command,
        "runtime_s": round(time.time() - start, 1),
        "data": f"MNIST t10k, stratified split (seed 0): {len(x_train)} train / {len(x_test)} test images",
        "accuracy": {
            k: {
                "mean": float(np.mean(v)),
                "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                "per_seed": v,
            }
            for k, v in rows.items()
        },
    }
    lines = (
        [
            f"Test accuracy, {args.seeds} seeds (mean ± sample std), {results['data']}, "
            f"{args.epochs} epochs, batch {args.batch_size}, Adam 1e-3.",
            "",
            "| variant | test accuracy | per seed |",
            "|---|---|---|",
        ]
        + [
            f"| {k} | {r['mean']:.4f} ± {r['std']:.4f} | {', '.join(f'{a:.4f}' for a in r['per_seed'])} |"
            for k, r in results["accuracy"].items()
        ]
        + ["", f"Command: `{command}` ({results['runtime_s']} s)."]
    )
    write_json(out / "results.json", results)
    write_text(out / "results.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    if args.docs:
        Path(args.docs).mkdir(parents=True, exist_ok=True)
        for name in ("results.json", "results.md", "augmentation_views.png"):
            shutil.copy(out / name, Path(args.docs) / name)


if __name__ == "__main__":
    main()
