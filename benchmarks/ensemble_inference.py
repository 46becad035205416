"""Inference latency of an M-member ensemble: kerasopt's fused model vs the members called
inside one compiled function, with `predict` calls as further rows.

    python -m benchmarks.ensemble_inference            # about 1 min on 2 cores
    python -m benchmarks.ensemble_inference --quick    # about 20 s

Members: M MLPs 784-W-W-10 (softmax). Rows, each computing the same averaged probabilities
(checked before timing):
  members in one tf.function (graph / XLA): each member called inside one compiled function,
      their outputs averaged there: the reference (the faster of graph and XLA per batch size);
  kerasopt fused model in one tf.function (graph / XLA): `keras.Model(inputs,
      MemberAverage()([m(inputs) for m in members]))`, called the same way;
  kerasopt fused model, `predict`: one `model.predict` call (Keras' per-call setup included);
  M separate `predict` calls: one per member, averaged in NumPy.
Batch sizes 1 and 256. Every row is called 3 times untimed first (tracing, compilation), then
timed in interleaved rounds (the order rotates each round): per round, each row is called
for `--budget` seconds (at least `--min-calls` calls) and every call timed on its own; p50 and p99 latency
and throughput (images per second of wall time) per round; the medians over rounds reported.
Writes benchmarks/results/ensemble_inference.{json,md}.
"""

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._machine import describe, load_note, provenance  # noqa: E402
from kerasopt._io import write_json, write_text  # noqa: E402
from kerasopt.ensembles import MemberAverage  # noqa: E402

BATCH_SIZES = (1, 256)
REFERENCE = "members in one tf.function"


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


def paths(members, fused):
    """{row name: callable(x as a tf.Tensor) -> NumPy averaged probabilities}."""
    import tensorflow as tf

    def members_average(x):
        return tf.add_n([m(x, training=False) for m in members]) / len(members)

    def fused_call(x):
        return fused(x, training=False)

    rows = {}
    for mode, jit in (("graph", False), ("XLA", True)):
        for name, fn in (
            (REFERENCE, members_average),
            ("kerasopt fused model in one tf.function", fused_call),
        ):
            compiled = tf.function(fn, jit_compile=jit)
            rows[f"{name} ({mode})"] = lambda x, f=compiled: f(x).numpy()
    rows["kerasopt fused model, predict"] = lambda x: fused.predict(x, batch_size=len(x), verbose=0)
    rows[f"{len(members)} separate predict calls"] = lambda x: np.mean(
        [m.predict(x, batch_size=len(x), verbose=0) for m in members], axis=0
    )
    return rows


def timed_calls(fn, x, budget, min_calls):
    """Latencies (s) of calls of `fn(x)` for `budget` seconds, at least `min_calls` calls."""
    times, start = [], time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < budget:
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.5, help="seconds per row per round")
    parser.add_argument(
        "--min-calls", type=int, default=5, help="timed calls per row and round, at least"
    )
    parser.add_argument(
        "--quick", action="store_true", help="3 rounds of 0.2 s (at least 2 calls) per row"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.budget, args.min_calls = 3, 0.2, 2
    import tensorflow as tf

    info = describe()
    keras.utils.set_random_seed(0)
    members = [member(i, args.width) for i in range(args.members)]
    inputs = keras.Input((784,))
    fused = keras.Model(inputs, MemberAverage()([m(inputs) for m in members]))
    rows = paths(members, fused)

    results = []
    for batch in BATCH_SIZES:
        x = tf.constant(np.random.default_rng(batch).random((batch, 784), dtype="float32"))
        expected = np.mean([m(x, training=False).numpy() for m in members], axis=0)
        for name, fn in rows.items():  # warm-up alike: 3 untimed calls each
            for _ in range(3):
                out = fn(x)
            np.testing.assert_allclose(out, expected, atol=1e-5, err_msg=name)
        per_round = {name: [] for name in rows}
        names = list(rows)
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                times = timed_calls(rows[name], x, args.budget, args.min_calls)
                per_round[name].append(
                    {
                        "p50": float(np.percentile(times, 50)),
                        "p99": float(np.percentile(times, 99)),
                        "images_per_second": batch * len(times) / sum(times),
                        "calls": len(times),
                    }
                )
        for name, rounds in per_round.items():
            results.append(
                {
                    "batch_size": batch,
                    "path": name,
                    **{
                        key: statistics.median(r[key] for r in rounds)
                        for key in ("p50", "p99", "images_per_second")
                    },
                    "calls_per_round": [r["calls"] for r in rounds],
                }
            )
        print(f"batch {batch} done", flush=True)

    for batch in BATCH_SIZES:
        mine = [r for r in results if r["batch_size"] == batch]
        reference = min(
            (r for r in mine if r["path"].startswith(REFERENCE)), key=lambda r: r["p50"]
        )
        for r in mine:
            r["p50_vs_reference"] = r["p50"] / reference["p50"]
            r["reference"] = r is reference

    def headline(batch, path):
        """The best p50 / reference among the rows of `batch` whose path starts with `path`."""
        return min(
            r["p50_vs_reference"]
            for r in results
            if r["batch_size"] == batch and r["path"].startswith(path)
        )

    load = load_note(info)
    write_json(
        args.out / "ensemble_inference.json",
        {
            "machine": info,
            "load": load,
            "config": {k: str(v) for k, v in vars(args).items()},
            "results": results,
            "headline": {
                f"batch {b}: {key} p50 / reference p50": headline(b, path)
                for b in BATCH_SIZES
                for key, path in (
                    ("kerasopt fused model (best of graph, XLA)", "kerasopt fused model in one"),
                    (f"{args.members} separate predict", f"{args.members} separate"),
                )
            },
        },
    )
    lines = [
        "# Ensemble inference latency",
        "",
        f"Ensemble of {args.members} MLPs (784-{args.width}-{args.width}-10), averaged probabilities. "
        f"Machine: {info['cpu']}, {info['cores']} cores, TensorFlow {info['tensorflow']}, "
        f"Keras {info['keras']}. {load}",
        f"Per row and round: calls for {args.budget} s (at least {args.min_calls}), each timed; medians over "
        f"{args.rounds} interleaved rounds after 3 untimed calls of every row. Reference: the "
        f"members called inside one compiled function, the faster of graph and XLA (marked *).",
        "",
        "| batch size | path | p50 (ms) | p99 (ms) | images/s | p50 / reference |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['batch_size']} | {r['path']}{' *' if r['reference'] else ''} | {1e3 * r['p50']:.3f} | "
        f"{1e3 * r['p99']:.3f} | {r['images_per_second']:.0f} | {r['p50_vs_reference']:.2f} |"
        for r in results
    ]
    lines += ["", provenance(info)]
    write_text(args.out / "ensemble_inference.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
