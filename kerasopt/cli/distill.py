"""Distil a fine-tune run's snapshot ensemble (or its single model) into a smaller backbone.

    kerasopt distill RUN [--student mobilenet] [--alpha-width 0.25] [--teacher auto|ensemble|model]
        [--data FOLDER] [--temperature 4] [--alpha 0.1] [--epochs-head 8] [--epochs-finetune 4]
        [--out DIR] [--report DIR]

RUN is a `recipes.finetune` run folder; the recipe reads RUN/ensemble/model.keras (the snapshot
ensemble, with --snapshots) or RUN/model.keras, RUN/class_names.json and RUN/metrics.json (for
the data folder, unless --data). Two students of the same architecture, initialization and
schedule are trained on the data's train/ split: one on the labels (cross entropy), one by
`kerasopt.distill.Distiller` (Hinton et al. 2015). Phase 1 trains the head on the frozen
backbone, phase 2 also the top --unfreeze-fraction of the backbone, at a tenth of the rate;
the epochs are fixed (no early stopping), val/ is only displayed. Teacher and students are
scored on test/ when the data has one (see `recipes.holdout_split`), else on val/ (which the
teacher's fine-tuning monitored: said so in the table). Both students are exported like the
fine-tune recipe's models (`kerasopt.ensembles.export`: model.keras and a SavedModel with a
`serve` signature that needs no kerasopt) to OUT/student_labels/ and OUT/student_distilled/.
Writes OUT/results.{json,md} (and a copy to --report).
"""

import argparse
import json
import sys
import time
from pathlib import Path

from kerasopt.cli._offline import find_assets, use_offline_keras_home

use_offline_keras_home(find_assets())

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasopt import ensembles, transfer  # noqa: E402  (importing kerasopt registers the ensemble's layers)
from kerasopt._io import write_json, write_text  # noqa: E402
from kerasopt.distill import Distiller  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="kerasopt distill", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a recipes.finetune run folder")
    parser.add_argument("--student", default="mobilenet", help="a kerasopt.transfer.BACKBONES key")
    parser.add_argument(
        "--alpha-width",
        type=float,
        default=0.25,
        help="the student's width multiplier (MobileNet family)",
    )
    parser.add_argument(
        "--teacher",
        choices=("auto", "ensemble", "model"),
        default="auto",
        help="auto: the ensemble when the run has one",
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="folder with train/ and val/ (and test/); default: the run's metrics.json source",
    )
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, default=0.1, help="weight of the hard-label term")
    parser.add_argument("--epochs-head", type=int, default=8)
    parser.add_argument("--epochs-finetune", type=int, default=4)
    parser.add_argument(
        "--learning-rate", type=float, default=1e-3, help="phase 1 (Adam); phase 2 uses a tenth"
    )
    parser.add_argument("--unfreeze-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="default saved_models/distill/RUN-STUDENT")
    parser.add_argument(
        "--report",
        type=Path,
        help="also write results.{json,md} here (e.g. docs/distillation/ants_bees)",
    )
    args = parser.parse_args(argv)
    return parser, args


def teacher_path(parser, run, choice):
    ensemble, single = run / "ensemble" / "model.keras", run / "model.keras"
    if choice == "ensemble" or (choice == "auto" and ensemble.is_file()):
        path = ensemble
    else:
        path = single
    if not path.is_file() or not (run / "class_names.json").is_file():
        parser.error(
            f"{run} is not a fine-tune run with {path.relative_to(run)} and class_names.json"
        )
    return path


def data_folder(parser, run, data):
    if data is None:
        try:
            data = Path(json.loads((run / "metrics.json").read_text())["source"])
        except (OSError, ValueError, KeyError):
            parser.error(f"no --data given and {run / 'metrics.json'} names no data source")
    if not (data / "train").is_dir():
        parser.error(f"--data {data} must hold train/ and val/ (and test/) folders")
    return data


def scores(model, dataset):
    labels = np.concatenate([y.numpy() for _, y in dataset])
    p = np.clip(model.predict(dataset, verbose=0).astype("float64"), 1e-12, 1.0)
    return {
        "accuracy": float(np.mean(p.argmax(-1) == labels)),
        "nll": float(-np.mean(np.log(p[np.arange(len(labels)), labels]))),
        "parameters": int(model.count_params()),
        "latency_ms_batch1": latency_ms(model, next(iter(dataset))[0][:1]),
    }


def latency_ms(model, image, repeats=20):
    """Median wall time of one single-image forward pass (in-process, rough)."""
    model(image, training=False)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(image, training=False)
        times.append(time.perf_counter() - start)
    return round(1000 * float(np.median(times)), 2)


def train_student(args, data, teacher, distil, verbose):
    keras.utils.set_random_seed(args.seed)
    spec = transfer.get_spec(args.student)
    base = transfer.backbone(
        args.student, input_shape=(args.image_size, args.image_size, 3), alpha=args.alpha_width
    )
    student = transfer.build_classifier(
        base, len(data.class_names), preprocessing=spec.preprocessing, name="student"
    )
    trainer = Distiller(student, teacher, args.temperature, args.alpha) if distil else student
    loss = None if distil else "sparse_categorical_crossentropy"
    phases = (
        (args.epochs_head, args.learning_rate, 0.0),
        (args.epochs_finetune, args.learning_rate / 10, args.unfreeze_fraction),
    )
    epoch = 0
    for epochs, rate, fraction in phases:
        if epochs == 0:
            continue
        transfer.freeze(base)
        if fraction:
            transfer.unfreeze_fraction(base, fraction)
        trainer.compile(optimizer=keras.optimizers.Adam(rate), loss=loss, metrics=["accuracy"])
        trainer.fit(
            data.train,
            validation_data=data.val,
            initial_epoch=epoch,
            epochs=epoch + epochs,
            verbose=verbose,
        )
        epoch += epochs
    return student


def markdown(result):
    rows = result["models"]
    teacher, labels, distilled = rows["teacher"], rows["student_labels"], rows["student_distilled"]
    lines = [
        f"Teacher: {result['teacher']}; students: {result['student']}; data: {result['data']}.",
        f"Trained on train/ ({result['n_train']} images); scored on {result['scored_on']} ({result['n_test']} images).",
        f"Distillation: T = {result['temperature']}, alpha = {result['alpha']}; "
        f"{result['epochs_head']} + {result['epochs_finetune']} epochs, seed {result['seed']}.",
        "",
        "| model | accuracy | NLL | parameters | latency, batch 1 (ms, rough) |",
        "|---|---|---|---|---|",
    ]
    for name, row in (
        ("teacher", teacher),
        ("student, labels", labels),
        ("student, distilled", distilled),
    ):
        lines.append(
            f"| {name} | {row['accuracy']:.4f} | {row['nll']:.4f} | {row['parameters']:,} | {row['latency_ms_batch1']} |"
        )
    share = result["nll_gain_recovered"]
    lines += [
        "",
        f"Share of the teacher's NLL gain over the label-trained student that the distilled student "
        f"recovers: {'n/a (the teacher is not better)' if share is None else f'{share:.2f}'}.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser, args = parse_args(argv)
    path = teacher_path(parser, args.run, args.teacher)
    source = data_folder(parser, args.run, args.data)
    class_names = json.loads((args.run / "class_names.json").read_text())
    verbose = 1 if sys.stdout.isatty() else 2
    try:
        data = transfer.image_dataset(source, args.image_size, args.batch_size, seed=args.seed)
    except (ValueError, transfer.DataUnavailableError) as error:
        sys.exit(f"error: {error}")
    if data.class_names != class_names:
        sys.exit(
            f"error: the data's classes {data.class_names} differ from the teacher's {class_names}"
        )
    if (source / "test").is_dir():
        test, scored_on = (
            transfer.image_folder(source / "test", class_names, args.image_size, args.batch_size),
            "test/",
        )
    else:
        test, scored_on = (
            data.val,
            "val/ (no test/ folder: the teacher's fine-tuning monitored it, so its row is optimistic)",
        )
        print(f"warning: {source} has no test/ folder; scoring on val/", file=sys.stderr)
    out = args.out or Path("saved_models/distill") / f"{args.run.resolve().name}-{args.student}"
    teacher = keras.models.load_model(path, compile=False)
    print(
        f"Teacher: {path} ({teacher.count_params():,} parameters); data: {source}; scored on {scored_on}"
    )

    models = {"teacher": scores(teacher, test)}
    for name, distil in (("student_labels", False), ("student_distilled", True)):
        print(f"\n{name}")
        student = train_student(args, data, teacher, distil, verbose)
        models[name] = scores(student, test)
        models[name]["export"] = {
            k: str(v) for k, v in ensembles.export(student, out / name).items()
        }
    gain = models["student_labels"]["nll"] - models["teacher"]["nll"]
    recovered = models["student_labels"]["nll"] - models["student_distilled"]["nll"]
    result = {
        "teacher": str(path),
        "student": f"{args.student} alpha={args.alpha_width}",
        "data": str(source),
        "scored_on": scored_on,
        "n_train": data.n_train,
        "n_test": int(sum(len(y) for _, y in test)),
        "temperature": args.temperature,
        "alpha": args.alpha,
        "epochs_head": args.epochs_head,
        "epochs_finetune": args.epochs_finetune,
        "seed": args.seed,
        "models": models,
        "nll_gain_recovered": recovered / gain if gain > 0 else None,
        "command": "kerasopt distill " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    text = markdown(result)
    for folder in filter(None, (out, args.report)):
        write_json(Path(folder) / "results.json", result)
        write_text(
            Path(folder) / "results.md",
            f"# Distillation: {result['student']} from {path.parent.name}\n\n{text}"
            f"\nCommand: `{result['command']}`\n",
        )
    print("\n" + text)
    print(
        f"Students exported to {out.resolve()}/student_labels and /student_distilled (model.keras, saved_model/)"
    )
    return result


if __name__ == "__main__":
    main()
