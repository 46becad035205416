"""Fused M-member ensemble (one Keras model) vs M separate `predict` calls, side by side.

    python -m benchmarks.ensemble_inference [--members 5] [--repeats 10]

Both paths compute the same averaged probabilities (checked). For batch sizes 1 and 256 the
median wall time per prediction is measured in one process, alternating the two paths, and
the ratio separate / fused reported. Writes benchmarks/results/ensemble_inference.{json,md}.
"""

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._machine import describe
from kerasopt._io import write_json, write_text  # noqa: E402
from kerasopt.ensembles import MemberAverage  # noqa: E402


def member(i, width):
    return keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name=f"member_{i}",
    )


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    info = describe()

    keras.utils.set_random_seed(0)
    members = [member(i, args.width) for i in range(args.members)]
    inputs = keras.Input((784,))
    fused = keras.Model(inputs, MemberAverage()([m(inputs) for m in members]))

    rows = []
    for batch in (1, 256):
        x = np.random.default_rng(batch).random((batch, 784), dtype="float32")

        def run_fused(x=x, batch=batch):
            return fused.predict(x, batch_size=batch, verbose=0)

        def run_separate(x=x, batch=batch):
            return np.mean([m.predict(x, batch_size=batch, verbose=0) for m in members], axis=0)

        np.testing.assert_allclose(run_fused(), run_separate(), atol=1e-6)  # also warms up both
        fused_times, separate_times = [], []
        for _ in range(3):  # alternate the two paths so drifting load hits both alike
            fused_times.append(median_time(run_fused, args.repeats))
            separate_times.append(median_time(run_separate, args.repeats))
        f, s = float(np.median(fused_times)), float(np.median(separate_times))
        rows.append(
            {"batch_size": batch, "fused_ms": 1e3 * f, "separate_ms": 1e3 * s, "speedup": s / f}
        )
        print(
            f"batch {batch}: fused {1e3 * f:.2f} ms, {args.members} separate predict calls {1e3 * s:.2f} ms, x{s / f:.2f}"
        )

    write_json(
        args.out / "ensemble_inference.json",
        {"machine": info, "config": {k: str(v) for k, v in vars(args).items()}, "results": rows},
    )
    lines = [
        f"Ensemble of {args.members} MLPs (784-{args.width}-{args.width}-10), `predict` latency, median of 3 x "
        f"{args.repeats} calls. Machine: {info['cpu']}, {info['cores']} cores, TensorFlow {info['tensorflow']}, "
        f"Keras {info['keras']}.",
        "",
        f"| batch size | fused model (ms) | {args.members} separate predict calls (ms) | speed-up |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['batch_size']} | {r['fused_ms']:.2f} | {r['separate_ms']:.2f} | x{r['speedup']:.2f} |"
        for r in rows
    ]
    write_text(args.out / "ensemble_inference.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
