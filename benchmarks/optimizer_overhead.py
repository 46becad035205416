"""Per-step time of model.fit(jit_compile=True) with the kerasopt optimizers, side by side.

Each new optimizer is timed against Keras Adam (target: within 1.15x); each wrapper
against its inner optimizer alone (Adam; target: within 1.10x). Models: a ~1M-parameter
MLP (784-1024-192-10) and a small CNN (two 3x3 convolutions) on random 28x28 inputs.
Every configuration is compiled and warmed up first, then timed in interleaved rounds
(round-robin over configurations, so machine load drifts hit all alike); the per-step
time of a round is measured between the first and the last `on_train_batch_end`. The
ratio uses the fastest round of each configuration (the least disturbed by other
processes on a shared machine); the median is reported beside it.

    python -m benchmarks.optimizer_overhead            # about 3 minutes on 2 cores
"""

import argparse
import os
import statistics
import time
from pathlib import Path

from benchmarks._machine import describe


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 5 steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.steps = 3, 5
    return args


def configurations(keras):
    from kerasopt.optimizers import (
        Averaged,
        BlockCoordinate,
        DeltaBarDelta,
        Lookahead,
        RMSpropNesterov,
    )

    adam = lambda: keras.optimizers.Adam(1e-3)  # noqa: E731
    # (name, factory, baseline name, target ratio); Keras' own Nadam and Adam(use_ema=True)
    # are references without a target: what an optimizer with more arithmetic per weight, and
    # Keras' own extra pass over the weights for an average, cost on the same machine.
    return [
        ("Adam", adam, None, None),
        ("Nadam [Keras reference]", lambda: keras.optimizers.Nadam(1e-3), "Adam", None),
        (
            "Adam(use_ema=True) [Keras reference]",
            lambda: keras.optimizers.Adam(1e-3, use_ema=True, ema_momentum=0.999),
            "Adam",
            None,
        ),
        ("DeltaBarDelta", lambda: DeltaBarDelta(1e-3), "Adam", 1.15),
        ("RMSpropNesterov", lambda: RMSpropNesterov(1e-3), "Adam", 1.15),
        ("Averaged(Adam, polyak)", lambda: Averaged(adam()), "Adam", 1.10),
        ("Averaged(Adam, ema)", lambda: Averaged(adam(), "ema"), "Adam", 1.10),
        ("Lookahead(Adam)", lambda: Lookahead(adam()), "Adam", 1.10),
        (
            "BlockCoordinate(Adam, 2 blocks)",
            lambda: BlockCoordinate(adam(), ["kernel", "bias"]),
            "Adam",
            1.10,
        ),
    ]


def models(keras):
    def mlp():
        return keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                keras.layers.Flatten(),
                keras.layers.Dense(1024, activation="relu"),
                keras.layers.Dense(192, activation="relu"),
                keras.layers.Dense(10),
            ]
        )

    def cnn():
        return keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                keras.layers.Conv2D(16, 3, activation="relu"),
                keras.layers.MaxPooling2D(),
                keras.layers.Conv2D(32, 3, activation="relu"),
                keras.layers.MaxPooling2D(),
                keras.layers.Flatten(),
                keras.layers.Dense(10),
            ]
        )

    return {"mlp": mlp, "cnn": cnn}


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    from kerasopt._io import write_json, write_text

    info = describe()
    rng = np.random.default_rng(0)
    n = args.batch_size * (args.steps + 1)
    x = rng.normal(size=(n, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=n)

    class StepTimes(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.ends = []

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

    results = {}
    configs = configurations(keras)
    progress = keras.utils.Progbar(len(models(keras)) * (len(configs) + args.rounds * len(configs)))
    for model_name, make in models(keras).items():
        keras.utils.set_random_seed(0)
        initial = make().get_weights()
        compiled = []
        for _, factory, *_ in configs:
            model = make()
            model.set_weights(initial)
            model.compile(
                optimizer=factory(),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                jit_compile=True,
            )
            model.fit(
                x[: 2 * args.batch_size],
                y[: 2 * args.batch_size],
                batch_size=args.batch_size,
                epochs=1,
                verbose=0,
            )  # compile and warm up
            compiled.append(model)
            progress.add(1)
        params = compiled[0].count_params()
        times = {name: [] for name, *_ in configs}
        for _ in range(args.rounds):
            for (name, *_), model in zip(configs, compiled, strict=True):
                timer = StepTimes()
                model.fit(
                    x,
                    y,
                    batch_size=args.batch_size,
                    epochs=1,
                    verbose=0,
                    shuffle=False,
                    callbacks=[timer],
                )
                times[name].append((timer.ends[-1] - timer.ends[0]) / (len(timer.ends) - 1))
                progress.add(1)
        medians = {name: statistics.median(t) for name, t in times.items()}
        fastest = {name: min(t) for name, t in times.items()}
        rows = []
        for name, _, baseline, target in configs:
            ratio = None if baseline is None else fastest[name] / fastest[baseline]
            rows.append(
                {
                    "optimizer": name,
                    "baseline": baseline,
                    "min_step_ms": 1e3 * fastest[name],
                    "median_step_ms": 1e3 * medians[name],
                    "round_step_ms": [1e3 * t for t in times[name]],
                    "ratio": ratio,
                    "target": target,
                    "meets_target": None
                    if ratio is None or target is None
                    else bool(ratio <= target),
                }
            )
        results[model_name] = {"parameters": params, "rows": rows}

    info["load_average_at_end"] = os.getloadavg()
    lines = [
        "# Optimizer overhead: per-step time of `model.fit(jit_compile=True)`",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['platform']}; Python {info['python']}, "
        f"TensorFlow {info['tensorflow']}, Keras {info['keras']}. Load average (1/5/15 min) at start "
        f"{tuple(round(v, 2) for v in info['load_average_at_start'])}, at end "
        f"{tuple(round(v, 2) for v in info['load_average_at_end'])}: a load above the core count means "
        "the timings were taken under contention.",
        "",
        f"Batch {args.batch_size}, {args.steps} timed steps per round, {args.rounds} interleaved rounds; "
        "ratio of the fastest rounds.",
        f"Command: `python -m benchmarks.optimizer_overhead --rounds {args.rounds} --steps {args.steps}`",
    ]
    for model_name, result in results.items():
        lines += [
            "",
            f"## {model_name} ({result['parameters']:,} parameters)",
            "",
            "| optimizer | min ms/step | median ms/step | vs | ratio | target | met |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in result["rows"]:
            ratio = "" if row["ratio"] is None else f"{row['ratio']:.3f}"
            target = "" if row["target"] is None else f"<= {row['target']:.2f}"
            met = (
                "" if row["meets_target"] is None else ("yes" if row["meets_target"] else "**no**")
            )
            lines.append(
                f"| {row['optimizer']} | {row['min_step_ms']:.2f} | {row['median_step_ms']:.2f} | "
                f"{row['baseline'] or ''} | "
                f"{ratio} | {target} | {met} |"
            )
    markdown = "\n".join(lines) + "\n"
    write_text(Path(args.out) / "optimizer_overhead.md", markdown)
    write_json(
        Path(args.out) / "optimizer_overhead.json",
        {"machine": info, "args": vars(args), "results": results},
    )
    print(markdown)


if __name__ == "__main__":
    main()
