"""Images per second through a tf.data augmentation pipeline: kerasopt layers vs Keras built-ins.

Two pairs, each with the same operations on both sides (batched `Dataset.map`, training=True):
  random scale + position crop, 160x160x3 -> 128x128x3, bilinear:
    kerasopt  RandomResizedCrop(128, 128)
    Keras     RandomCrop(128, 128) + RandomZoom((-0.5, 0))  (crop, then a per-image bilinear
              zoom-in at the output size: the cheaper order of the two built-ins)
  a random colour shift per image, 160x160x3:
    kerasopt  PCAColorAugmentation (one colour vector added per image)
    Keras     RandomColorJitter(brightness_factor=0.1) (one brightness value added per image,
              then clipped); RandomColorJitter with all four factors (brightness, contrast,
              saturation, hue: more work) is reported beside it, not as the reference.
plus the pipeline alone (batching, no augmentation): the floor every row pays.
Input: synthetic float32 images in [0, 1], held in memory, batch 32. Every dataset (passes of
256 images) is built once and read once to warm it (tracing happens when it is built), then
the rows are timed in interleaved rounds (the order rotates each round), each row for whole
passes over `--budget` seconds; medians of the rounds are reported.

    python -m benchmarks.augmentation_throughput            # about 1.5 min on 2 cores
    python -m benchmarks.augmentation_throughput --quick    # about 30 s

Writes benchmarks/results/augmentation_throughput.{json,md}.
"""

import argparse
import os
import statistics
import time
from pathlib import Path

from benchmarks._machine import describe, load_note, provenance

SIZE, OUT = 160, 128


def pipelines(images):
    """{row name: (pair, list of layers)}; pair names the comparison a row belongs to."""
    import keras

    from kerasopt import layers

    jitter = {"value_range": (0.0, 1.0), "seed": 0}
    return {
        "batching only (no augmentation)": ("floor", []),
        "kerasopt RandomResizedCrop": ("crop", [layers.RandomResizedCrop(OUT, OUT, seed=0)]),
        "Keras RandomCrop + RandomZoom": (
            "crop",
            [
                keras.layers.RandomCrop(OUT, OUT, seed=0),
                keras.layers.RandomZoom((-0.5, 0.0), seed=0),
            ],
        ),
        "kerasopt PCAColorAugmentation": (
            "colour",
            [layers.PCAColorAugmentation(seed=0).adapt(images[:64])],
        ),
        "Keras RandomColorJitter (brightness)": (
            "colour",
            [keras.layers.RandomColorJitter(brightness_factor=0.1, **jitter)],
        ),
        "Keras RandomColorJitter (all four factors)": (
            "context",
            [
                keras.layers.RandomColorJitter(
                    brightness_factor=0.1,
                    contrast_factor=0.1,
                    saturation_factor=0.1,
                    hue_factor=0.1,
                    **jitter,
                )
            ],
        ),
    }


def build(images, stages, batch_size):
    """The dataset, built once: `images` in batches of `batch_size`, augmented."""
    import tensorflow as tf

    def augment(x):
        for stage in stages:
            x = stage(x, training=True)
        return x

    ds = tf.data.Dataset.from_tensor_slices(images).batch(batch_size)
    if stages:
        ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def throughput(ds, budget=0.0):
    """Images per second over full passes of `ds`, as many as fit in `budget` seconds (>= 1)."""
    start, count = time.perf_counter(), 0
    while True:
        for batch in ds:
            count += int(batch.shape[0])
        elapsed = time.perf_counter() - start
        if elapsed >= budget:
            return count / elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=256, help="images per pass")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--budget", type=float, default=2.0, help="seconds of passes per row and round (>= 1 pass)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 0.5 s per row")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.budget = 3, 0.5
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np

    from kerasopt._io import write_json, write_text

    machine = describe()
    images = np.random.default_rng(0).uniform(size=(args.images, SIZE, SIZE, 3)).astype("float32")
    rows = pipelines(images)
    datasets = {name: build(images, stages, args.batch_size) for name, (_, stages) in rows.items()}
    for name, ds in datasets.items():  # warm-up: one full pass of every dataset
        print(f"warm-up: {name}", flush=True)
        throughput(ds)
    rates = {name: [] for name in rows}
    names = list(rows)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            rates[name].append(throughput(datasets[name], args.budget))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    median = {name: statistics.median(v) for name, v in rates.items()}
    reference = {
        "crop": "Keras RandomCrop + RandomZoom",
        "colour": "Keras RandomColorJitter (brightness)",
    }
    ratio = {
        name: median[name] / median[reference[pair]]
        for name, (pair, _) in rows.items()
        if pair in reference
    }
    ratio["Keras RandomColorJitter (all four factors)"] = (
        median["Keras RandomColorJitter (all four factors)"] / median[reference["colour"]]
    )
    load = load_note(machine)
    result = {
        "machine": machine,
        "load": load,
        "settings": vars(args)
        | {"input": f"{SIZE}x{SIZE}x3 float32", "crop output": f"{OUT}x{OUT}x3"},
        "images_per_second": {"median": median, "per_round": rates},
        "reference": reference,
        "ratio_to_reference": ratio,
        "headline": {
            "RandomResizedCrop / Keras RandomCrop+RandomZoom": ratio["kerasopt RandomResizedCrop"],
            "PCAColorAugmentation / Keras RandomColorJitter(brightness)": ratio[
                "kerasopt PCAColorAugmentation"
            ],
        },
    }
    out = Path(args.out)
    write_json(out / "augmentation_throughput.json", result)
    m = machine
    lines = [
        "# Augmentation throughput (tf.data, batched map)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; TensorFlow {m['tensorflow']}, Keras {m['keras']}. {load}",
        f"Passes of {args.images} images ({SIZE}x{SIZE}x3 float32 in [0, 1]), batch {args.batch_size}; "
        f"every dataset built once and warmed by one pass; per round and row, whole passes for "
        f"{args.budget} s (at least one); medians of {args.rounds} interleaved rounds.",
        "",
        "| pipeline | compared with | images/s | ratio (target >= 1.0) |",
        "|---|---|---|---|",
    ]
    for name, (pair, _) in rows.items():
        versus = reference.get(pair, "")
        if name == versus:
            versus = "(reference)"
        elif pair == "context":
            versus = reference["colour"]
        shown = f"{ratio[name]:.2f}" if name in ratio and name not in reference.values() else ""
        lines.append(f"| {name} | {versus} | {median[name]:.0f} | {shown} |")
    lines += ["", provenance(machine)]
    write_text(out / "augmentation_throughput.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
