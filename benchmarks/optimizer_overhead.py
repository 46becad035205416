"""Per-step time of model.fit with the kerasopt optimizers against the Keras reference each
one is judged by, side by side.

Targets (issue 16): DeltaBarDelta and RMSpropNesterov at most 1.10x Keras Adam; Averaged
and Lookahead at most 1.05x their inner optimizer alone (Adam), and Averaged no slower than
Keras' own `Adam(use_ema=True)`, which does the same extra pass over the weights;
BlockCoordinate at equal work: with one block holding every variable it does all of Adam's
update work plus its own block selection (target 1.05x Adam). Its two-block row (kernels on
even steps, biases on odd ones) skips half of the update work and is reported without a
target: less work, not low overhead. Lookahead with one conditional around all variables
(the design before the library's branch-free select) is timed beside it.

Fairness: every configuration trains the same model from the same initial weights in
float32 with `jit_compile=True` (the faster setting for the reference: the
"Adam, no XLA" row shows it), on the same batches; each is compiled and then warmed up by
one untimed round, then timed in interleaved rounds (round-robin over configurations,
starting at a different configuration each round, so machine load drifts hit all alike).
The per-step time of a round is measured between the first and the last
`on_train_batch_end` of one `fit` call. A ratio is the median over rounds of the per-round
ratio (the two configurations ran seconds apart); the spread reported beside it is the
interquartile range of those per-round ratios, the noise of the machine. A second ratio uses the process's CPU time per step
instead of wall time (all threads; time spent descheduled by other processes does not
count), which other processes on a shared machine disturb less.

    python -m benchmarks.optimizer_overhead            # about 6 minutes on 2 quiet cores
    python -m benchmarks.optimizer_overhead --quick    # about a minute
"""

import argparse
import os
import statistics
import time
from pathlib import Path

from benchmarks._machine import describe, provenance


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15, help="timed interleaved rounds")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--quick", action="store_true", help="3 rounds of 5 steps, MLP only (a smoke run)"
    )
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.steps < 2 or args.batch_size < 1:
        parser.error("--rounds must be >= 1, --steps >= 2 and --batch-size >= 1")
    if args.quick:
        args.rounds, args.steps = 3, 5
    return args


def one_cond_lookahead(keras):
    """Lookahead whose synchronisation is one conditional around all variables (TensorFlow;
    the alternative to the library's branch-free select, timed for comparison)."""
    from keras import ops

    from kerasopt.optimizers import Lookahead

    class OneCondLookahead(Lookahead):
        def _after_step(self):
            sync = ops.equal(ops.mod(self.iterations, self.sync_period), 0)

            def pull_all():
                for variable, slow in zip(self._trainable_variables, self._slow, strict=True):
                    alpha = ops.cast(self.slow_step_size, slow.dtype)
                    new_slow = ops.add(slow, ops.multiply(alpha, ops.subtract(variable, slow)))
                    slow.assign(new_slow)
                    variable.assign(new_slow)

            ops.cond(sync, pull_all, lambda: None)

    return OneCondLookahead


def configurations(keras):
    """[(name, optimizer factory)] and [(name, reference, target)]."""
    from kerasopt.optimizers import (
        Averaged,
        BlockCoordinate,
        DeltaBarDelta,
        Lookahead,
        RMSpropNesterov,
    )

    adam = lambda: keras.optimizers.Adam(1e-3)  # noqa: E731
    ema = "Adam(use_ema=True) [Keras]"
    configs = [
        ("Adam", adam),
        ("Nadam [Keras]", lambda: keras.optimizers.Nadam(1e-3)),
        (ema, lambda: keras.optimizers.Adam(1e-3, use_ema=True, ema_momentum=0.999)),
        ("DeltaBarDelta", lambda: DeltaBarDelta(1e-3)),
        ("RMSpropNesterov", lambda: RMSpropNesterov(1e-3)),
        ("Averaged(Adam, polyak)", lambda: Averaged(adam())),
        ("Averaged(Adam, ema)", lambda: Averaged(adam(), "ema", decay=0.999)),
        ("Lookahead(Adam)", lambda: Lookahead(adam())),
        ("Lookahead(Adam), one cond for all variables", lambda: one_cond_lookahead(keras)(adam())),
        ("BlockCoordinate(Adam, 1 block: equal work)", lambda: BlockCoordinate(adam(), ["."])),
        (
            "BlockCoordinate(Adam, kernel|bias: half the work)",
            lambda: BlockCoordinate(adam(), ["kernel", "bias"]),
        ),
    ]
    comparisons = [
        ("Nadam [Keras]", "Adam", None),
        (ema, "Adam", None),
        ("DeltaBarDelta", "Adam", 1.10),
        ("RMSpropNesterov", "Adam", 1.10),
        ("Averaged(Adam, polyak)", "Adam", 1.05),
        ("Averaged(Adam, ema)", "Adam", 1.05),
        ("Averaged(Adam, polyak)", ema, 1.00),
        ("Averaged(Adam, ema)", ema, 1.00),
        ("Lookahead(Adam)", "Adam", 1.05),
        ("Lookahead(Adam), one cond for all variables", "Adam", None),
        ("BlockCoordinate(Adam, 1 block: equal work)", "Adam", 1.05),
        ("BlockCoordinate(Adam, kernel|bias: half the work)", "Adam", None),
    ]
    return configs, comparisons


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


def quartiles(values):
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def headline(results):
    """Each targeted comparison's best-against-best ratio, for `python -m benchmarks`' summary."""
    return {
        f"{row['optimizer']} vs {row['reference']}, {model}": round(row["best"]["median_ratio"], 3)
        for model, table in results.items()
        for row in table["comparisons"]
        if row.get("target") is not None
    }


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    from kerasopt._io import write_json, write_text

    info = describe()
    info["keras_backend"] = keras.backend.backend()
    rng = np.random.default_rng(0)
    n = args.batch_size * (args.steps + 1)
    x = rng.normal(size=(n, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=n)

    class StepTimes(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.ends = []

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append((time.perf_counter(), time.process_time()))

    def timed_round(model):
        timer = StepTimes()
        model.fit(
            x, y, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=False, callbacks=[timer]
        )
        steps = len(timer.ends) - 1
        (wall0, cpu0), (wall1, cpu1) = timer.ends[0], timer.ends[-1]
        return (wall1 - wall0) / steps, (cpu1 - cpu0) / steps

    named, comparisons = configurations(keras)
    modes = (True, False)  # jit_compile
    configs = [(name, factory, jit) for name, factory in named for jit in modes]
    model_makers = models(keras)
    if args.quick:
        model_makers = {"mlp": model_makers["mlp"]}
    progress = keras.utils.Progbar(len(model_makers) * len(configs) * (2 + args.rounds))
    results = {}
    for model_name, make in model_makers.items():
        keras.utils.set_random_seed(0)
        initial = make().get_weights()
        compiled = []
        for _, factory, jit in configs:
            model = make()
            model.set_weights(initial)
            model.compile(
                optimizer=factory(),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                jit_compile=jit,
            )
            model.fit(
                x[: args.batch_size], y[: args.batch_size], batch_size=args.batch_size, verbose=0
            )
            compiled.append(model)
            progress.add(1)
        for model in compiled:  # one untimed round each: warm-up treated alike
            timed_round(model)
            progress.add(1)
        times = {(name, jit): [] for name, _, jit in configs}
        cpu_times = {(name, jit): [] for name, _, jit in configs}
        for r in range(args.rounds):
            order = list(range(len(configs)))
            order = order[r % len(order) :] + order[: r % len(order)]
            for i in order:
                wall, cpu = timed_round(compiled[i])
                times[configs[i][0], configs[i][2]].append(wall)
                cpu_times[configs[i][0], configs[i][2]].append(cpu)
                progress.add(1)
        for name, _ in named:  # each side's faster setting, round by round
            for table in (times, cpu_times):
                table[name, "best"] = [
                    min(pair) for pair in zip(*(table[name, j] for j in modes), strict=True)
                ]
        timing_rows = []
        for name, _ in named:
            row = {"optimizer": name}
            for jit, key in ((True, "xla"), (False, "no_xla")):
                low, high = quartiles(times[name, jit])
                row[key] = {
                    "median_step_ms": 1e3 * statistics.median(times[name, jit]),
                    "iqr_step_ms": [1e3 * low, 1e3 * high],
                    "round_step_ms": [1e3 * t for t in times[name, jit]],
                }
            timing_rows.append(row)
        comparison_rows = []
        for name, reference, target in comparisons:
            row = {"optimizer": name, "reference": reference, "target": target}
            for mode, key in ((True, "xla"), (False, "no_xla"), ("best", "best")):
                ratios = [
                    a / b for a, b in zip(times[name, mode], times[reference, mode], strict=True)
                ]
                row[key] = {
                    "median_ratio": statistics.median(ratios),
                    "ratio_iqr": list(quartiles(ratios)),
                    "round_ratios": ratios,
                }
            cpu_ratios = [
                a / b
                for a, b in zip(cpu_times[name, "best"], cpu_times[reference, "best"], strict=True)
            ]
            row["cpu_time_best"] = {
                "median_ratio": statistics.median(cpu_ratios),
                "ratio_iqr": list(quartiles(cpu_ratios)),
                "round_ratios": cpu_ratios,
            }
            ratio = row["best"]["median_ratio"]
            row["meets_target"] = None if target is None else bool(ratio <= target)
            comparison_rows.append(row)
        results[model_name] = {
            "parameters": compiled[0].count_params(),
            "timings": timing_rows,
            "comparisons": comparison_rows,
        }

    info["load_average_at_end"] = os.getloadavg()
    command = "python -m benchmarks.optimizer_overhead" + (
        " --quick" if args.quick else f" --rounds {args.rounds} --steps {args.steps}"
    )
    load = [
        tuple(round(v, 2) for v in info[k])
        for k in ("load_average_at_start", "load_average_at_end")
    ]
    lines = [
        "# Optimizer overhead: per-step time of `model.fit`, float32, with and without XLA",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['platform']}; Python {info['python']}, "
        f"TensorFlow {info['tensorflow']}, Keras {info['keras']} on the {info['keras_backend']} "
        f"backend. Load average (1/5/15 min) at start {load[0]}, at end {load[1]}: a load above "
        "the core count means the timings were taken under contention.",
        "",
        f"Batch {args.batch_size}, {args.steps} timed steps per round, {args.rounds} interleaved "
        "rounds after one untimed warm-up round. Ratio: median over rounds of the per-round "
        "ratio; IQR: interquartile range (the machine's noise). The target is judged best vs "
        "best: each side in its faster setting (XLA or not) in that round.",
        "",
        f"Command: `{command}`",
    ]
    for model_name, result in results.items():
        lines += [
            "",
            f"## {model_name} ({result['parameters']:,} parameters)",
            "",
            "| optimizer | XLA: median ms/step (IQR) | no XLA: median ms/step (IQR) |",
            "|---|---|---|",
        ]
        for row in result["timings"]:
            cells = []
            for key in ("xla", "no_xla"):
                low, high = row[key]["iqr_step_ms"]
                cells.append(f"{row[key]['median_step_ms']:.2f} ({low:.2f}-{high:.2f})")
            lines.append(f"| {row['optimizer']} | {cells[0]} | {cells[1]} |")
        lines += [
            "",
            "| optimizer | vs | ratio, XLA | ratio, no XLA | ratio, best vs best (IQR) | target "
            "| met | CPU-time ratio, best vs best (IQR) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in result["comparisons"]:
            low, high = row["best"]["ratio_iqr"]
            cpu_low, cpu_high = row["cpu_time_best"]["ratio_iqr"]
            target = "" if row["target"] is None else f"<= {row['target']:.2f}"
            met = (
                "" if row["meets_target"] is None else ("yes" if row["meets_target"] else "**no**")
            )
            lines.append(
                f"| {row['optimizer']} | {row['reference']} | {row['xla']['median_ratio']:.3f} | "
                f"{row['no_xla']['median_ratio']:.3f} | {row['best']['median_ratio']:.3f} "
                f"({low:.3f}-{high:.3f}) | {target} | {met} | "
                f"{row['cpu_time_best']['median_ratio']:.3f} ({cpu_low:.3f}-{cpu_high:.3f}) |"
            )
    markdown = "\n".join([*lines, "", provenance(info)]) + "\n"
    write_text(Path(args.out) / "optimizer_overhead.md", markdown)
    write_json(
        Path(args.out) / "optimizer_overhead.json",
        {
            "machine": info,
            "args": vars(args),
            "command": command,
            "results": results,
            "headline": headline(results),
        },
    )
    print(markdown)
    return results


if __name__ == "__main__":
    main()
