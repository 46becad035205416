"""Fine-tune an ImageNet backbone on an image dataset: the main job.

    python -m recipes.finetune                      # default data, see below
    python -m recipes.finetune --backbone mobilenet_v2 --data PATH_OR_tfds:NAME [--image-size 224]
        [--epochs-head N] [--epochs-finetune M] [--strategy auto] [--weights PATH] [--out DIR]
        [--average polyak|ema|swa | --snapshots K] [--overwrite | --resume] [--workers N] [--debug]

Phase 1 trains a new head on the frozen backbone; phase 2 unfreezes the top of the backbone as
the strategy says (BatchNormalization frozen) and trains on with a warm-up/cosine schedule, the
backbone at a lower rate (`kerasopt.transfer.fine_tune`). With no --data: on a machine with a
network, tfds:tf_flowers and downloaded ImageNet weights; with no network but the offline assets
(../shared/assets or $KERASOPT_ASSETS), ants vs bees (hymenoptera_data) and the cached
MobileNetV2 weights. On a GPU, mixed precision and XLA switch on by themselves (--no-... to
turn them off); several GPUs train under MirroredStrategy. --average wraps phase 2's optimizers
in kerasopt's weight averaging (the saved model holds the averaged weights); --snapshots K makes
phase 2 a snapshot ensemble of K models, exported to RUN/ensemble/ (the two do not combine).

--workers N (N >= 2) trains on a local cluster of N worker processes on 127.0.0.1 (for a test
or a demo; `kerasopt.distributed.launch_local`): each runs this recipe with the same arguments
under MultiWorkerMirroredStrategy, --batch-size is the global batch (split across the workers),
and only the chief (worker 0) writes the run folder; each worker's output goes to a temporary
worker_<i>.log, the chief's is printed at the end. --workers-timeout bounds the whole run (every
worker is stopped then). Not with --resume or --snapshots. Across real machines, start this
recipe (without --workers) on each with a TF_CONFIG naming all of them
(docs/guides/distributed.md).

Reliability (docs/guides/reliability.md): the arguments are checked before any work; every image
is decoded once before training (unreadable files skipped with a warning naming them) and a
per-class count table is printed; the run is written to RUN.partial/ and renamed to RUN only when
complete, so RUN is never half-written. An existing RUN is refused unless --overwrite is given
(it is then replaced only when the new run succeeds). A killed or failed run leaves RUN.partial/
and RUN.resume/: --resume (with the same arguments) continues from the last completed epoch,
--overwrite starts over. Errors print one line, `error: ...`, and exit with status 2 (--debug
shows the traceback).
"""

import argparse
import dataclasses
import re
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from kerasopt._platform import process_age_seconds
from kerasopt.cli._cli import ArgumentParser, CliError, run
from kerasopt.cli._offline import find_assets, use_offline_keras_home
from kerasopt.transfer.budget import Clock
from kerasopt.transfer.config import FineTuneConfig

OFFLINE_DATA = "datasets/hymenoptera_data"
DEFAULT_BUDGET = 9.5  # minutes for the whole command, start to published run folder
STRATEGIES = ("auto", "head", "top", "several", "many")


def has_network(host="storage.googleapis.com", port=443, timeout=3.0):
    """Whether Keras' weight server answers (a TCP connection, no download)."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def parse_args(argv=None):
    parser = ArgumentParser(prog="python -m recipes.finetune", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        help="folder of class subfolders (optionally train/ and val/) or tfds:NAME[/CONFIG]; default: see above",
    )
    parser.add_argument(
        "--image-size",
        type=_image_size,
        default="auto",
        help="input size in pixels, at least 32, or auto (default): from the training images (kerasopt.transfer.input_size: 96 for images under 64 px, 224 for large photos in sets of up to 1,000 images, else 160)",
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--validation-split",
        type=float,
        default=0.3,
        help="held-out share of each class when the data has no val/ folder (default 0.3; --test-split of it becomes the test set)",
    )
    parser.add_argument(
        "--test-split",
        type=float,
        default=0.5,
        help="share of each class of the held-out images (val/, or --validation-split) that becomes the test set when the data has no test/ folder (default 0.5)",
    )
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="auto",
        help="auto: decided from measurements of the data (a linear probe on cached features, image statistics, class count, size); else a preset",
    )
    parser.add_argument(
        "--epochs-head", type=int, help="phase-1 epochs, at least 1 (default: the strategy's)"
    )
    parser.add_argument(
        "--epochs-finetune",
        type=int,
        help="phase-2 epochs (default: the strategy's; 0 = head only)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="run folder (default saved_models/finetune/BACKBONE-DATA)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="train on N local worker processes (127.0.0.1, MultiWorkerMirroredStrategy, --batch-size global; only worker 0 writes; not with --resume or --snapshots; across machines: TF_CONFIG, docs/guides/distributed.md)",
    )
    parser.add_argument(
        "--workers-timeout",
        type=float,
        default=86400.0,
        metavar="SECONDS",
        help="seconds for the whole --workers run; then every worker is stopped (default 86400)",
    )
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    for field in dataclasses.fields(FineTuneConfig):  # the fields' defaults, unconverted
        if "cli" in field.metadata and not hasattr(args, field.name):
            setattr(
                args, field.name, DEFAULT_BUDGET if field.name == "time_budget" else field.default
            )
    return parser, args


def add_config_arguments(parser):
    """One flag per `FineTuneConfig` field with `cli` metadata (its dest is the field's name;
    absent when not given, `parse_args` then sets the field's default); fields that share a
    `group` exclude each other."""
    groups = {}
    for field in dataclasses.fields(FineTuneConfig):
        if "cli" not in field.metadata:
            continue
        options = dict(field.metadata["cli"])
        flags, group = options.pop("flags"), options.pop("group", None)
        if group is not None and group not in groups:
            groups[group] = parser.add_mutually_exclusive_group()
        target = parser if group is None else groups[group]
        target.add_argument(*flags, dest=field.name, default=argparse.SUPPRESS, **options)


def build_config(args, strategy):
    """The run's `FineTuneConfig` from the parsed arguments: the fields' own flags, the
    --strategy preset and the --epochs-* overrides."""
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(FineTuneConfig)
        if "cli" in f.metadata
    }
    overrides = {
        k: v
        for k, v in (("epochs_head", args.epochs_head), ("epochs_finetune", args.epochs_finetune))
        if v is not None
    }
    return FineTuneConfig(**values, strategy=strategy, overrides=overrides)


def _image_size(text):
    """--image-size: "auto" or pixels."""
    return text if text == "auto" else int(text)


def check_args(args):
    """The checks that need neither Keras nor the data, in the CLI's words (`CliError`)."""
    minimum = {
        "--image-size": (None if args.image_size == "auto" else args.image_size, 32),
        "--batch-size": (args.batch_size, 1),
        "--epochs-head": (args.epochs_head, 1),
        "--epochs-finetune": (args.epochs_finetune, 0),
        "--patience": (args.patience, 1),
        "--snapshots": (args.snapshots, 1),
        "--seed": (args.seed, 0),
        "--workers": (args.workers, 1),
    }
    for flag, (value, low) in minimum.items():
        if value is not None and value < low:
            why = " (phase 2 starts from the trained head)" if flag == "--epochs-head" else ""
            raise CliError(f"argument {flag}: must be at least {low}{why}; received {value}")
    if args.workers_timeout <= 0:
        raise CliError(
            f"argument --workers-timeout: must be positive; received {args.workers_timeout}"
        )
    if args.workers > 1 and (args.resume or args.snapshots):
        raise CliError(
            "argument --workers: not with --resume or --snapshots (not supported across workers)"
        )
    for flag, value in (
        ("--validation-split", args.validation_split),
        ("--test-split", args.test_split),
    ):
        if not 0 < value < 1:
            raise CliError(
                f"argument {flag}: must be between 0 and 1 (exclusive); received {value}"
            )
    weights = args.weights
    if weights not in ("imagenet", None) and not Path(weights).is_file():
        raise CliError(
            f"argument --weights: 'imagenet', 'none' or an existing weights file; received {args.weights!r}"
        )
    if (args.average or args.snapshots) and (
        weights is None or args.epochs_finetune == 0 or args.strategy == "head"
    ):
        raise CliError(
            "arguments --average and --snapshots act on phase 2, which this run does not have (--weights none, --epochs-finetune 0 or --strategy head)"
        )
    if args.data and not args.data.startswith("tfds:") and not Path(args.data).is_dir():
        raise CliError(f"argument --data: not a folder or tfds:NAME; received {args.data!r}")


def resolve_data(data):
    """The data source, setting up the offline Keras cache when there is no network."""
    online = has_network()
    assets = find_assets()
    if not online:
        use_offline_keras_home(assets)  # before the first weight download
    if data:
        return data
    if online:
        return "tfds:tf_flowers"
    if assets is not None and (assets / OFFLINE_DATA).is_dir():
        return str(assets / OFFLINE_DATA)
    raise CliError(
        "no --data given, no network, and no offline assets (../shared/assets or $KERASOPT_ASSETS) to fall back on"
    )


def without_workers(argv):
    """`argv` without the --workers and --workers-timeout flags (and their values)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--workers", "--workers-timeout"):
            skip = True
        elif not arg.startswith(("--workers=", "--workers-timeout=")):
            kept.append(arg)
    return kept


def launch_workers(args, argv):
    """Run this recipe as `args.workers` local workers; print the chief's output."""
    from kerasopt import distributed

    logs = Path(tempfile.mkdtemp(prefix="kerasopt_finetune_workers_"))
    print(f"Starting {args.workers} local workers (logs: {logs}/worker_<i>.log)", flush=True)
    try:
        distributed.launch_local(
            "kerasopt.cli.finetune",
            without_workers(argv),
            n_workers=args.workers,
            timeout=args.workers_timeout,
            log_dir=logs,
        )
    except distributed.WorkersFailed as error:
        reason = (
            f"ran past --workers-timeout {args.workers_timeout:g} s"
            if "ran past" in str(error)
            else "failed"
        )
        errors = [
            m.group(0)
            for i in range(args.workers)
            if (logs / f"worker_{i}.log").is_file()
            for m in [re.search(r"^error: .*$", (logs / f"worker_{i}.log").read_text(), re.M)]
            if m
        ]
        detail = f": {errors[0][len('error: ') :]}" if errors else ""
        raise CliError(f"local workers {reason}{detail} (output: {logs}/worker_<i>.log)") from error
    print((logs / "worker_0.log").read_text(), end="")
    shutil.rmtree(logs, ignore_errors=True)


def _main(argv=None):
    # The budget covers the whole command: from the process' start when this process is the
    # command (argv from its command line), else (called in-process) from here.
    clock = Clock(elapsed_before=process_age_seconds() if argv is None else 0.0)
    _, args = parse_args(argv)
    check_args(args)
    source = resolve_data(args.data)

    from kerasopt import distributed

    if args.workers > 1 and not distributed.in_cluster():
        return launch_workers(args, sys.argv[1:] if argv is None else list(argv))
    if distributed.in_cluster():
        distributed.multi_worker_strategy()  # before any TensorFlow operation (collective ops)

    import keras

    if keras.backend.backend() == "tensorflow":  # its retracing notes: nothing a user can act on
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")

    from kerasopt import transfer
    from kerasopt.transfer.run_folder import check_run_dir

    if args.backbone not in transfer.BACKBONES:
        raise CliError(
            f"argument --backbone: unknown backbone {args.backbone!r}; choose from {', '.join(transfer.BACKBONES)}"
        )
    if args.alpha is not None and (args.alpha <= 0 or not args.backbone.startswith("mobilenet")):
        raise CliError(
            f"argument --alpha: a positive width multiplier for the MobileNet family only; received {args.alpha} with --backbone {args.backbone}"
        )
    name = Path(source.rstrip("/")).name.replace("tfds:", "").replace("/", "_")
    out = Path(args.out or f"saved_models/finetune/{args.backbone}-{name}")
    if distributed.is_chief():
        check_run_dir(out, overwrite=args.overwrite, resume=args.resume)

    keras.utils.set_random_seed(args.seed)
    # tf.data on TensorFlow; Pillow + keras.utils.PyDataset on any other Keras backend
    load = (
        transfer.image_dataset
        if keras.backend.backend() == "tensorflow"
        else transfer.image_sequences
    )
    size = args.image_size
    if size == "auto" and load is not transfer.image_dataset:  # PyDataset: no "auto"
        size = transfer.input_size.PHOTO_SIZE
    data = load(
        source,
        size,
        args.batch_size,
        args.validation_split,
        args.seed,
        test_split=args.test_split,
    )
    strategy = None if args.strategy == "auto" else transfer.preset(args.strategy)
    config = build_config(args, strategy)
    print(f"Data: {source}\n{data.count_table()}")
    if strategy is not None or args.similarity:
        print(f"Strategy: {config.planned_strategy(data.n_train)}")
    result = transfer.fine_tune(data, out, config, clock=clock)
    print_summary(result.metrics, out)
    example = None
    if Path(source).is_dir():
        example = next(Path(source).glob("val*/*/*.jpg"), None) or next(
            Path(source).glob("**/*.jpg"), None
        )
    print(
        f"\nRun folder: {out.resolve()}  (model.keras, "
        + ("saved_model/, " if keras.backend.backend() == "tensorflow" else "")
        + "metrics.json, training_curves.png, confusion_matrix.png, top_losses.png)"
    )
    print(f"Next: python -m recipes.predict {out} {example or 'IMAGE.jpg'}")
    print(f"      tensorboard --logdir {out / 'tensorboard'}")
    return result


def print_summary(metrics, out):
    """The phases, then the test split's figures (printed once, at the end)."""
    print("\nphase     val_accuracy  val_loss  epochs  seconds  train images/s  device")
    for phase, m in metrics["phases"].items():
        print(
            f"{phase:<9} {m['val_accuracy']:>12.4f}  {m['val_loss']:>8.4f}  {m['epochs']:>6}  {m['seconds']:>7.1f}  {m['images_per_second']!s:>14}  {m['device']}"
        )
        if "ensemble" in m:
            e = m["ensemble"]
            print(
                f"{'ensemble':<9} {e['val_accuracy']:>12.4f}  {e['val_loss']:>8.4f}  ({e['members']} snapshots, served from {out / e['folder']})"
            )
    test = metrics["test"]
    print(
        f"\n{metrics['test_split']} split ({sum(v['support'] for v in test['per_class'].values())} images, used once): "
        f"test_accuracy {metrics['test_accuracy']:.4f}  test_loss {metrics['test_loss']:.4f}"
        f"  (training {metrics['training_seconds']:.1f} s)"
    )
    if metrics["tta"]:
        t = metrics["tta"]
        print(
            f"with --tta {t['mode']}: test_accuracy {t['accuracy']:.4f}  test_loss {t['loss']:.4f}"
        )
    width = max(len("class"), *(len(name) for name in test["per_class"]))
    print(f"{'class':<{width}}  precision  recall      f1  support")
    for name, m in test["per_class"].items():
        print(
            f"{name:<{width}}  {m['precision']:>9.4f}  {m['recall']:>6.4f}  {m['f1']:>6.4f}  {m['support']:>7}"
        )
    if test["most_confused"]:
        pairs = ", ".join(f"{t} as {p} ({n})" for t, p, n in test["most_confused"])
        print(f"most confused: {pairs}")


def main(argv=None):
    """The recipe, with one-line errors (`kerasopt.cli._cli.run`)."""
    return run(_main, argv)


if __name__ == "__main__":
    main()
