"""Fine-tune an ImageNet backbone on an image dataset: the main job.

    python -m recipes.finetune                      # default data, see below
    python -m recipes.finetune --backbone mobilenet_v2 --data PATH_OR_tfds:NAME [--image-size 224]
        [--epochs-head N] [--epochs-finetune M] [--strategy auto] [--weights PATH] [--out DIR]
        [--average polyak|ema|swa | --snapshots K]

Phase 1 trains a new head on the frozen backbone; phase 2 unfreezes the top of the backbone as
the strategy says (BatchNormalization frozen) and trains on with a warm-up/cosine schedule, the
backbone at a lower rate (`kerasopt.transfer.fine_tune`). With no --data: on a machine with a
network, tfds:tf_flowers and downloaded ImageNet weights; with no network but the offline assets
(../shared/assets or $KERASOPT_ASSETS), ants vs bees (hymenoptera_data) and the cached
MobileNetV2 weights. On a GPU, mixed precision and XLA switch on by themselves (--no-... to
turn them off); several GPUs train under MirroredStrategy. --average wraps phase 2's optimizers
in kerasopt's weight averaging (the saved model holds the averaged weights); --snapshots K makes
phase 2 a snapshot ensemble of K models, exported to RUN/ensemble/ (the two do not combine).
"""

import argparse
import socket
import sys
from pathlib import Path

from recipes._offline import find_assets, use_offline_keras_home

OFFLINE_DATA = "datasets/hymenoptera_data"
STRATEGIES = ("auto", "head", "top", "several", "many")


def has_network(host="storage.googleapis.com", port=443, timeout=3.0):
    """Whether Keras' weight server answers (a TCP connection, no download)."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m recipes.finetune", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="mobilenet_v2", help="a kerasopt.transfer.BACKBONES key (mobilenet, mobilenet_v2, mobilenet_v3_small, efficientnet_b0, resnet50, convnext_tiny, ...)")
    parser.add_argument("--data", help="folder of class subfolders (optionally train/ and val/) or tfds:NAME[/CONFIG]; default: see above")
    parser.add_argument("--image-size", type=int, default=224, help="input size in pixels (default 224, the MobileNetV2 weights' size)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--validation-split", type=float, default=0.2, help="held-out share when the data has no validation split")
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto", help="auto: the course's table by --similarity and dataset size; else a preset")
    parser.add_argument("--similarity", choices=("similar", "different"), default="similar", help="how close the images are to ImageNet photos (for --strategy auto)")
    parser.add_argument("--epochs-head", type=int, help="phase-1 epochs (default: the strategy's)")
    parser.add_argument("--epochs-finetune", type=int, help="phase-2 epochs (default: the strategy's; 0 = head only)")
    parser.add_argument("--patience", type=int, default=3, help="early-stopping patience in epochs")
    parser.add_argument("--weights", default="imagenet", help="'imagenet' (Keras cache, else download), 'none' (random init) or a weights file")
    parser.add_argument("--alpha", type=float, help="width multiplier (MobileNet family only)")
    phase2 = parser.add_mutually_exclusive_group()
    phase2.add_argument("--snapshots", type=int, help="snapshot ensemble of K models in phase 2 (cyclic rate; epochs rounded up to a multiple of K; RUN/snapshots/, RUN/ensemble/)")
    phase2.add_argument("--average", choices=("polyak", "ema", "swa"), help="weight averaging of phase 2's iterates; the saved model holds the averages")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="run folder (default saved_models/finetune/BACKBONE-DATA)")
    parser.add_argument("--no-mixed-precision", action="store_true", help="keep float32 on a GPU")
    parser.add_argument("--no-xla", action="store_true", help="no XLA compilation on a GPU")
    parser.add_argument("--no-distribute", action="store_true", help="no MirroredStrategy with several GPUs")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras fit verbosity")
    return parser, parser.parse_args(argv)


def resolve_data(parser, data):
    """The data source, setting up the offline Keras cache when there is no network."""
    online = has_network()
    assets = find_assets()
    if not online:
        use_offline_keras_home(assets)  # must run before keras is imported
    if data:
        return data
    if online:
        return "tfds:tf_flowers"
    if assets is not None and (assets / OFFLINE_DATA).is_dir():
        return str(assets / OFFLINE_DATA)
    parser.error("no --data given, no network, and no offline assets (../shared/assets or $KERASOPT_ASSETS) to fall back on")


def main(argv=None):
    parser, args = parse_args(argv)
    source = resolve_data(parser, args.data)

    import keras

    from kerasopt import transfer

    weights = None if args.weights.lower() == "none" else args.weights
    keras.utils.set_random_seed(args.seed)
    try:
        data = transfer.image_dataset(source, args.image_size, args.batch_size, args.validation_split, args.seed)
        overrides = {k: v for k, v in (("epochs_head", args.epochs_head), ("epochs_finetune", args.epochs_finetune)) if v is not None}
        if args.strategy == "auto":
            strategy = transfer.choose_strategy(args.similarity, data.n_train, **overrides)
        else:
            strategy = transfer.preset(args.strategy, **overrides)
        name = Path(source.rstrip("/")).name.replace("tfds:", "").replace("/", "_")
        out = Path(args.out or f"saved_models/finetune/{args.backbone}-{name}")
        print(f"Data: {source} ({data.n_train} train / {data.n_val} val images, classes {data.class_names})")
        print(f"Strategy: {strategy}")
        result = transfer.fine_tune(
            data, out, backbone_name=args.backbone, strategy=strategy, weights=weights, alpha=args.alpha,
            mixed_precision=False if args.no_mixed_precision else "auto",
            xla=False if args.no_xla else "auto",
            distribute=False if args.no_distribute else "auto",
            patience=args.patience, verbose=args.verbose, average=args.average, snapshots=args.snapshots,
        )
    except (transfer.WeightsUnavailableError, transfer.DataUnavailableError) as error:
        sys.exit(f"error: {error}")

    print("\nphase     val_accuracy  val_loss  epochs  seconds  train images/s  device")
    for phase, m in result.metrics["phases"].items():
        print(f"{phase:<9} {m['val_accuracy']:>12.4f}  {m['val_loss']:>8.4f}  {m['epochs']:>6}  {m['seconds']:>7.1f}  {m['images_per_second']:>14}  {m['device']}")
        if "ensemble" in m:
            e = m["ensemble"]
            print(f"{'ensemble':<9} {e['val_accuracy']:>12.4f}  {e['val_loss']:>8.4f}  ({e['members']} snapshots, served from {out / e['folder']})")
    example = None
    if Path(source).is_dir():
        example = next(Path(source).glob("val*/*/*.jpg"), None) or next(Path(source).glob("**/*.jpg"), None)
    print(f"\nRun folder: {out.resolve()}  (model.keras, saved_model/, metrics.json, training_curves.png, confusion_matrix.png)")
    print(f"Next: python -m recipes.predict {out} {example or 'IMAGE.jpg'}")
    print(f"      tensorboard --logdir {out / 'tensorboard'}")
    return result


if __name__ == "__main__":
    main()
