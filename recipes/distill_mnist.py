"""Knowledge distillation on MNIST: an ensemble of wide MLPs teaches thin students, over seeds.

    python -m recipes.distill_mnist [--seeds 0 1 2] [--epochs 20] [--temperature 4] [--alpha 0.1]
        [--out docs/distillation]

Data: the MNIST test set (t10k, 10,000 digits, offline assets), split once (stratified, seed 0)
into 7,000 training and 3,000 held-out images; everything is trained on the first and scored
on the second, with fixed epochs and fixed T and alpha (no selection on the held-out share).
Per seed: the teacher is the averaged probabilities of three 784-512-512-10 ReLU MLPs with
dropout (`kerasopt.ensembles.MemberAverage`); students, each from the same initialization:
- thin (784-64-10): trained on the labels, and by `kerasopt.distill.Distiller`;
- thin and deep (784-32-32-32-10): on the labels, by the Distiller, and by FitNets (a
  `kerasopt.distill.HintTrainer` stage guiding its second layer by the teacher's first
  member's first layer, then the Distiller; Romero et al. 2015).
Reports held-out accuracy, NLL, and the share of the teacher's NLL gain over the label-trained
student that distillation recovers; also the teacher's fit of its own training images (the
soft targets the students see). Writes results.{json,md} to --out; one line per epoch
goes to the log when stdout is not a terminal.
"""

import argparse
import sys
from pathlib import Path

from kerasopt.cli._offline import find_assets, use_offline_keras_home

ASSETS = find_assets()
use_offline_keras_home(ASSETS)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasopt import datasets  # noqa: E402
from kerasopt._io import write_json, write_text  # noqa: E402
from kerasopt.distill import Distiller, HintTrainer  # noqa: E402
from kerasopt.ensembles import MemberAverage  # noqa: E402

BATCH = 128


def mlp(widths, name, dropout=0.0):
    layers = [keras.Input((784,))]
    for i, width in enumerate(widths):
        layers.append(keras.layers.Dense(width, activation="relu", name=f"{name}_dense{i + 1}"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(10, activation="softmax", name=f"{name}_out"))
    return keras.Sequential(layers, name=name)


def teacher(x, y, seed, epochs, verbose):
    members = []
    for m in range(3):
        keras.utils.set_random_seed(1000 * seed + m)
        member = mlp((512, 512), f"member{m}", dropout=0.3)
        member.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        member.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=verbose)
        members.append(member)
    inputs = keras.Input((784,))
    outputs = MemberAverage("mean_probabilities")([m(inputs) for m in members])
    return keras.Model(inputs, outputs, name="teacher_ensemble"), members


def scores(model, x, y):
    p = np.clip(model.predict(x, batch_size=1024, verbose=0).astype("float64"), 1e-12, 1.0)
    return {
        "accuracy": float(np.mean(p.argmax(-1) == y)),
        "nll": float(-np.mean(np.log(p[np.arange(len(y)), y]))),
    }


def student(kind, seed):
    keras.utils.set_random_seed(seed)
    return mlp((64,), "thin") if kind == "thin" else mlp((32, 32, 32), "deep")


def train(kind, method, teach, first_member, x, y, args, seed, verbose):
    model = student(kind, seed)
    if method == "labels":
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=BATCH, epochs=args.epochs, verbose=verbose)
        return model
    if method == "hints":  # FitNets stage 1: student layers up to deep_dense2 + regressor
        stage = HintTrainer(model, first_member, "deep_dense2", "member0_dense1")
        stage.compile(optimizer=keras.optimizers.Adam(1e-3))
        stage.fit(x, batch_size=BATCH, epochs=args.hint_epochs, verbose=verbose)
    distiller = Distiller(model, teach, args.temperature, args.alpha)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-3))
    distiller.fit(x, y, batch_size=BATCH, epochs=args.epochs, verbose=verbose)
    return model


ARMS = (
    ("thin", "labels"),
    ("thin", "distilled"),
    ("deep", "labels"),
    ("deep", "distilled"),
    ("deep", "hints"),
)


def summarize(runs):
    """Mean and standard deviation over seeds of every (arm, metric), and the NLL-gain share."""
    table = {}
    for key in [f"{k}/{m}" for k, m in ARMS] + ["teacher", "teacher on its training images"]:
        rows = [run[key] for run in runs]
        table[key] = {
            metric: {
                "mean": float(np.mean([r[metric] for r in rows])),
                "sd": float(np.std([r[metric] for r in rows], ddof=1)) if len(rows) > 1 else 0.0,
            }
            for metric in rows[0]
        }
    for kind, method in ARMS:
        if method == "labels":
            continue
        shares = [
            (run[f"{kind}/labels"]["nll"] - run[f"{kind}/{method}"]["nll"])
            / (run[f"{kind}/labels"]["nll"] - run["teacher"]["nll"])
            for run in runs
        ]
        table[f"{kind}/{method}"]["nll_gain_recovered"] = {
            "mean": float(np.mean(shares)),
            "per_seed": shares,
        }
    return table


def markdown(table, args, n_train, n_test):
    names = {
        "teacher on its training images": "teacher, on its own 7,000 training images (not held out)",
        "teacher": "teacher: 3 x MLP 784-512-512-10 (ensemble)",
        "thin/labels": "thin 784-64-10, labels",
        "thin/distilled": "thin 784-64-10, distilled",
        "deep/labels": "deep 784-32-32-32-10, labels",
        "deep/distilled": "deep 784-32-32-32-10, distilled",
        "deep/hints": "deep 784-32-32-32-10, FitNets hints + distilled",
    }
    lines = [
        f"MNIST t10k split once (stratified, seed 0): {n_train} training / {n_test} held-out images; "
        f"seeds {args.seeds}; students {args.epochs} epochs (Adam 1e-3, batch {BATCH}), T = {args.temperature}, "
        f"alpha = {args.alpha}, hint stage {args.hint_epochs} epochs. Mean ± sd over seeds, on the held-out share.",
        "",
        "| model | accuracy | NLL | share of the teacher's NLL gain recovered |",
        "|---|---|---|---|",
    ]
    for key, name in names.items():
        row = table[key]
        share = row.get("nll_gain_recovered")
        share_text = (
            f"{share['mean']:.2f} ({', '.join(f'{s:.2f}' for s in share['per_seed'])})"
            if share
            else "-"
        )
        lines.append(
            f"| {name} | {row['accuracy']['mean']:.4f} ± {row['accuracy']['sd']:.4f} | "
            f"{row['nll']['mean']:.4f} ± {row['nll']['sd']:.4f} | {share_text} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m recipes.distill_mnist", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=20, help="student epochs")
    parser.add_argument("--teacher-epochs", type=int, default=15)
    parser.add_argument("--hint-epochs", type=int, default=5)
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--out", type=Path, default=Path("docs/distillation"))
    args = parser.parse_args(argv)
    if ASSETS is None:
        sys.exit(
            "error: the MNIST test set needs the offline assets (../shared/assets or $KERASOPT_ASSETS)"
        )
    verbose = 1 if sys.stdout.isatty() else 2
    x, y = datasets.load("mnist", ASSETS)
    x_train, y_train, x_test, y_test = datasets.split(
        x.reshape(len(x), -1), y, test_fraction=0.3, seed=0
    )
    runs = []
    for seed in args.seeds:
        print(f"seed {seed}: teacher")
        teach, members = teacher(x_train, y_train, seed, args.teacher_epochs, verbose)
        run = {
            "teacher": scores(teach, x_test, y_test),
            "teacher on its training images": scores(teach, x_train, y_train),
        }
        for kind, method in ARMS:
            print(f"seed {seed}: {kind} student, {method}")
            model = train(kind, method, teach, members[0], x_train, y_train, args, seed, verbose)
            run[f"{kind}/{method}"] = scores(model, x_test, y_test)
            print(
                f"  held-out accuracy {run[f'{kind}/{method}']['accuracy']:.4f}  NLL {run[f'{kind}/{method}']['nll']:.4f}"
            )
        runs.append(run)
    table = summarize(runs)
    command = "python -m recipes.distill_mnist " + " ".join(sys.argv[1:] if argv is None else argv)
    write_json(
        args.out / "results.json",
        {
            "config": vars(args) | {"out": str(args.out)},
            "per_seed": runs,
            "summary": table,
            "command": command,
        },
    )
    text = markdown(table, args, len(y_train), len(y_test))
    write_text(
        args.out / "results.md", f"# Distillation on MNIST\n\n{text}\nCommand: `{command}`\n"
    )
    print("\n" + text)


if __name__ == "__main__":
    main()
