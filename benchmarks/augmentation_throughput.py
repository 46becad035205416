"""Images per second through a tf.data augmentation pipeline: kerasopt layers vs Keras built-ins.

Pipelines (batched `dataset.map`, training=True, same input and output sizes):
  kerasopt  RandomResizedCrop(128, 128) + PCAColorAugmentation + keras RandomFlip("horizontal")
  kerasopt_crop_only  RandomResizedCrop(128, 128) + keras RandomFlip("horizontal")
  keras     RandomZoom(0.3) + RandomCrop(128, 128) + RandomFlip("horizontal")
            (the built-in way to get random scale + random position + flip)
Input: 160x160x3 float32 images in memory (synthetic, uniform in [0, 1]), batch 32.
Each pipeline is timed over several interleaved rounds in one process (median reported).

Run: python -m benchmarks.augmentation_throughput [--images 1024 --rounds 3]
Writes benchmarks/results/augmentation_throughput.{json,md}.
"""

import argparse
import os
import statistics
import time
from pathlib import Path

from benchmarks._machine import describe


def pipelines(images):
    import keras

    from kerasopt import layers

    pca = layers.PCAColorAugmentation(seed=0).adapt(images[:64])
    return {
        "kerasopt": [
            layers.RandomResizedCrop(128, 128, seed=0),
            pca,
            keras.layers.RandomFlip("horizontal", seed=0),
        ],
        "kerasopt_crop_only": [
            layers.RandomResizedCrop(128, 128, seed=0),
            keras.layers.RandomFlip("horizontal", seed=0),
        ],
        "keras": [
            keras.layers.RandomZoom(0.3, seed=0),
            keras.layers.RandomCrop(128, 128, seed=0),
            keras.layers.RandomFlip("horizontal", seed=0),
        ],
    }


def throughput(images, stages, batch_size):
    import tensorflow as tf

    def augment(x):
        for stage in stages:
            x = stage(x, training=True)
        return x

    ds = (
        tf.data.Dataset.from_tensor_slices(images)
        .batch(batch_size)
        .map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    )
    ds = ds.prefetch(tf.data.AUTOTUNE)
    start, count = time.perf_counter(), 0
    for batch in ds:
        count += int(batch.shape[0])
    return count / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np

    from kerasopt._io import write_json, write_text

    machine = describe()
    images = np.random.default_rng(0).uniform(size=(args.images, 160, 160, 3)).astype("float32")
    stages = pipelines(images)
    for s in stages.values():  # warm-up: traces every pipeline once
        throughput(images[: 2 * args.batch_size], s, args.batch_size)
    rates = {name: [] for name in stages}
    for _ in range(args.rounds):
        for name, s in stages.items():
            rates[name].append(throughput(images, s, args.batch_size))
    median = {name: statistics.median(r) for name, r in rates.items()}
    result = {
        "machine": machine,
        "settings": vars(args) | {"input": "160x160x3 float32", "output": "128x128x3"},
        "images_per_second": {"median": median, "per_round": rates},
        "ratio_to_keras": {name: median[name] / median["keras"] for name in median},
    }
    out = Path(args.out)
    write_json(out / "augmentation_throughput.json", result)
    m = result["machine"]
    lines = [
        "# Augmentation throughput (tf.data, batched map)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, load average at start {m['load_average_at_start'][0]:.2f}; "
        f"TensorFlow {m['tensorflow']}, Keras {m['keras']}.",
        f"{args.images} images 160x160x3 -> 128x128x3, batch {args.batch_size}, median of {args.rounds} interleaved rounds.",
        "",
        "| pipeline | images/s | ratio to Keras built-ins |",
        "|---|---|---|",
    ] + [
        f"| {name} | {median[name]:.0f} | {result['ratio_to_keras'][name]:.2f} |" for name in median
    ]
    lines += [
        "",
        "Command: `python -m benchmarks.augmentation_throughput "
        + f"--images {args.images} --rounds {args.rounds}`",
    ]
    write_text(out / "augmentation_throughput.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
