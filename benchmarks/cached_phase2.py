"""Phase 2 on cached activations vs on the images: training throughput per phase-2 epoch.

The same run twice per unfrozen fraction, in one process, alternating: `fine_tune` on ants vs
bees (245 training, 153 validation photos) with MobileNetV2 (ImageNet weights from the offline
cache) at `--size` px, batch 16, a fixed plan (`--epochs-head` head epochs, then
`--epochs-finetune` phase-2 epochs with the top `fraction` of the backbone unfrozen), once with
`cached_activations=True` (the default: the frozen bottom runs once per image, the top trains
on the stored activations) and once with `cached_activations=False` (every step runs the whole
backbone on augmented images). Reported per run: phase-2 training images per second (training
steps only), the wall seconds of a phase-2 epoch (validation included), the one-time caching
seconds, and the phase-2 validation accuracy (no test split is read).

    python -m benchmarks.cached_phase2                      # fractions 0.1 0.3 0.5, 224 px
    python -m benchmarks.cached_phase2 --fractions 0.3 --size 160 --quick
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from kerasopt.cli._offline import find_assets, use_offline_keras_home

ASSETS = find_assets()
use_offline_keras_home(ASSETS)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from benchmarks._machine import describe, provenance  # noqa: E402
from kerasopt._io import write_json, write_text  # noqa: E402


def one_run(folder, size, fraction, cached, epochs_head, epochs_finetune, out):
    from kerasopt.transfer import FineTuneStrategy, fine_tune, image_dataset

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    data = image_dataset(folder, image_size=size, batch_size=16, seed=0)
    strategy = FineTuneStrategy(
        "bench",
        fraction,
        epochs_head=epochs_head,
        epochs_finetune=epochs_finetune,
        finetune_learning_rate=1e-3,
    )
    start = time.perf_counter()
    result = fine_tune(
        data,
        out,
        strategy=strategy,
        cached_activations=cached,
        finetune_learning_rate=1e-3,
        patience=epochs_finetune,
        verbose=0,
    )
    wall = time.perf_counter() - start
    phase = result.metrics["phases"]["finetune"]
    cache = phase.get("cached_activations")
    return {
        "fraction": fraction,
        "cached": cached,
        "cut": None if cache is None else cache["cut"],
        "cache_seconds": None if cache is None else cache["seconds"],
        "cache_megabytes": None if cache is None else cache["megabytes"],
        "train_images_per_second": phase["images_per_second"],
        "epoch_seconds": round(phase["seconds"] / phase["epochs"], 2),
        "epochs": phase["epochs"],
        "val_accuracy": round(phase["val_accuracy"], 4),
        "run_seconds": round(wall, 1),
    }


def markdown(result):
    m = result["machine"]
    lines = [
        "# Phase 2 on cached activations vs on the images",
        "",
        f"{provenance(m)} Machine: {m['cpu']}, {m['cores']} cores, load average at start "
        f"{', '.join(f'{v:.1f}' for v in m['load_average_at_start'])} (a machine shared with "
        "other jobs, this process niced: busy-machine figures; compare rows of this one run).",
        "",
        f"Ants vs bees (245 train, 153 val), MobileNetV2 at {result['size']} px, batch 16, "
        f"{result['epochs_finetune']} phase-2 epochs. Train images/s counts training steps only; "
        "epoch s includes the validation pass; caching is paid once per run.",
        "",
        "| unfrozen fraction | phase 2 on | cut | train images/s | s per epoch | caching s (training images, MB) | val accuracy | whole run s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        cache = "-" if r["cut"] is None else f"{r['cache_seconds']} ({r['cache_megabytes']})"
        lines.append(
            f"| {r['fraction']} | {'cached activations' if r['cached'] else 'images'} | "
            f"{r['cut'] or '-'} | {r['train_images_per_second']} | {r['epoch_seconds']} | {cache} | "
            f"{r['val_accuracy']} | {r['run_seconds']} |"
        )
    lines += ["", "Speed-up of a phase-2 epoch (s per epoch, images / cached):", ""]
    for fraction in result["fractions"]:
        rows = {r["cached"]: r for r in result["runs"] if r["fraction"] == fraction}
        if True in rows and False in rows:
            lines.append(
                f"- fraction {fraction}: {rows[False]['epoch_seconds'] / rows[True]['epoch_seconds']:.1f}x "
                f"(training images/s {rows[True]['train_images_per_second'] / rows[False]['train_images_per_second']:.1f}x)"
            )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cached_phase2")
    parser.add_argument("--fractions", nargs="*", type=float, default=[0.1, 0.3, 0.5])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--epochs-head", type=int, default=2)
    parser.add_argument("--epochs-finetune", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="no results file written")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    if ASSETS is None:
        raise SystemExit(
            "error: the offline assets (../shared/assets or $KERASOPT_ASSETS) are needed"
        )
    folder = ASSETS / "datasets" / "hymenoptera_data"
    result = {
        "machine": describe(),
        "size": args.size,
        "epochs_finetune": args.epochs_finetune,
        "fractions": args.fractions,
        "runs": [],
    }
    scratch = Path(tempfile.mkdtemp(prefix="cached_phase2_"))
    for fraction in args.fractions:
        for cached in (True, False):
            run = one_run(
                folder,
                args.size,
                fraction,
                cached,
                args.epochs_head,
                args.epochs_finetune,
                scratch / f"{fraction}-{cached}",
            )
            print(run, flush=True)
            result["runs"].append(run)
    table = markdown(result)
    print(table)
    if not args.quick:
        out = Path(args.out)
        write_json(out / "cached_phase2.json", result)
        write_text(out / "cached_phase2.md", table)
    return result


if __name__ == "__main__":
    main()
