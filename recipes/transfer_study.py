"""Transfer learning vs training from scratch, over several seeds: the README's evidence table.

    python -m recipes.transfer_study [--data PATH] [--seeds 0 1 2] [--image-size 160]
        [--epochs-head 3] [--epochs-finetune 2] [--out saved_models/transfer_study]
    python -m recipes.transfer_study --backbone mobilenet --alpha 0.25 --image-size 96 \
        --seeds 0 --epochs-head 1 --epochs-finetune 1   # smoke

For each seed, `kerasopt.transfer.fine_tune` runs twice on the same data: once from ImageNet
weights (its phase-1 result is "head only", its phase-2 result "head + fine-tune") and once
with `weights=None` (the same architecture from random initialization, every layer trained for
the same number of epochs). Writes study.json and study.md to --out. Default data: ants vs
bees from the offline assets.
"""

import argparse
import statistics
from pathlib import Path

from kerasopt.cli._offline import find_assets, use_offline_keras_home

ROWS = (
    ("head only (frozen ImageNet backbone)", "pretrained", "head"),
    ("head + fine-tune (top 10%, BN frozen)", "pretrained", "finetune"),
    ("random init, same epochs", "scratch", "scratch"),
)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m recipes.transfer_study", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--data", help="folder of class subfolders (default: offline ants vs bees)")
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument(
        "--alpha", type=float, help="width multiplier of the MobileNet family (default: 1)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--image-size", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs-head", type=int, default=3)
    parser.add_argument("--epochs-finetune", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("saved_models/transfer_study"))
    args = parser.parse_args(argv)
    assets = find_assets()
    use_offline_keras_home(assets)
    source = args.data or (str(assets / "datasets/hymenoptera_data") if assets else None)
    if source is None:
        parser.error("no --data and no offline assets")

    import keras

    from kerasopt import transfer
    from kerasopt._io import write_json, write_text

    strategy = transfer.preset(
        "top", epochs_head=args.epochs_head, epochs_finetune=args.epochs_finetune
    )
    runs = []
    for seed in args.seeds:
        for kind, weights in (("pretrained", "imagenet"), ("scratch", None)):
            keras.utils.set_random_seed(seed)
            data = transfer.image_dataset(source, args.image_size, args.batch_size, seed=seed)
            print(f"seed {seed}: {kind}")
            result = transfer.fine_tune(
                data,
                args.out / f"{kind}-seed{seed}",
                backbone=args.backbone,
                strategy=strategy,
                weights=weights,
                alpha=args.alpha,
                patience=max(args.epochs_head, args.epochs_finetune) + 1,
                verbose=2,
                overwrite=True,
            )
            runs.append({"seed": seed, "kind": kind, "phases": result.metrics["phases"]})

    lines = [
        f"| setting | val accuracy, mean ± sd over seeds {args.seeds} | per seed | epochs | train images/s |",
        "|---|---|---|---|---|",
    ]
    table = []
    for label, kind, phase in ROWS:
        ms = [r["phases"][phase] for r in runs if r["kind"] == kind]
        accs = [m["val_accuracy"] for m in ms]
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        ips = statistics.mean(m["images_per_second"] for m in ms)
        table.append(
            {
                "setting": label,
                "phase": phase,
                "val_accuracy": accs,
                "mean": statistics.mean(accs),
                "sd": sd,
                "epochs": [m["epochs"] for m in ms],
                "images_per_second": ips,
            }
        )
        lines.append(
            f"| {label} | {statistics.mean(accs):.3f} ± {sd:.3f} | {', '.join(f'{a:.3f}' for a in accs)} | "
            f"{', '.join(str(m['epochs']) for m in ms)} | {ips:.1f} |"
        )
    device = runs[0]["phases"]["head"]["device"]
    note = (
        f"\n{args.backbone}, {args.image_size} px, batch {args.batch_size}, data {source}; head {args.epochs_head} "
        f"epochs + fine-tune {args.epochs_finetune} epochs vs scratch {args.epochs_head + args.epochs_finetune} "
        f"epochs; patience above the epoch count, so no run stops early, and every setting keeps the weights "
        f"of its lowest-val_loss epoch (EarlyStopping restore_best_weights); device: {device}.\n"
    )
    write_json(
        args.out / "study.json",
        {"args": {k: str(v) for k, v in vars(args).items()}, "rows": table, "runs": runs},
    )
    write_text(args.out / "study.md", "\n".join(lines) + "\n" + note)
    print("\n".join(lines) + note)
    print(f"Results: {args.out / 'study.md'}")


if __name__ == "__main__":
    main()
