"""Phase 2's training step on CPU: a plain TensorFlow graph against XLA (`jit_compile=True`).

Issue 25 asks whether XLA on CPU makes the fine-tuning phase faster. The step timed is the
recipe's own: `build_classifier` on MobileNetV2 (random weights: the arithmetic is the same),
the top `unfreeze_fraction` of the backbone trainable (its BatchNormalization frozen, as
`unfreeze` leaves it), Adam through `discriminative_optimizer`, sparse cross-entropy, batch 32,
float32 on both sides. Each side is compiled and warmed with one fit of `--steps` steps first;
then the rounds alternate (graph, XLA / XLA, graph), each a `fit` of `--steps` steps on the same
in-memory batches, and the medians of the rounds are reported as training images per second.

    python -m benchmarks.phase2_xla                 # 96, 160 and 224 px, 3 rounds of 4 steps
    python -m benchmarks.phase2_xla --quick --out /tmp/x    # 96 px, 2 rounds

Writes benchmarks/results/phase2_xla.{json,md}.
"""

import argparse
import statistics
import time
from pathlib import Path

from benchmarks._machine import describe, load_note, provenance
from kerasopt._io import write_json, write_text

BATCH = 32


def trainer(size, fraction, jit_compile):
    """The recipe's phase-2 model at `size` px, compiled with or without XLA."""
    import keras

    from kerasopt.transfer import build_classifier, discriminative_optimizer, unfreeze_fraction

    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(
        input_shape=(size, size, 3), include_top=False, weights=None
    )
    model = build_classifier(base, 10)
    unfreeze_fraction(base, fraction)
    model.compile(
        optimizer=discriminative_optimizer(
            model,
            base,
            head_optimizer=keras.optimizers.Adam(1e-3),
            backbone_optimizer=keras.optimizers.Adam(3e-4),
        ),
        loss="sparse_categorical_crossentropy",
        jit_compile=jit_compile,
    )
    return model


def one_size(size, fraction, steps, rounds):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (steps * BATCH, size, size, 3)).astype("float32")
    y = rng.integers(0, 10, steps * BATCH)
    sides = {"graph": trainer(size, fraction, False), "XLA": trainer(size, fraction, True)}
    warm = {}
    for name, model in sides.items():
        start = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
        warm[name] = round(time.perf_counter() - start, 2)
    rates = {name: [] for name in sides}
    for r in range(rounds):
        for name in list(sides)[:: 1 if r % 2 == 0 else -1]:
            start = time.perf_counter()
            sides[name].fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
            rates[name].append(len(x) / (time.perf_counter() - start))
    median = {name: round(statistics.median(v), 2) for name, v in rates.items()}
    return {
        "size": size,
        "unfreeze_fraction": fraction,
        "steps": steps,
        "first_fit_seconds": warm,
        "images_per_second": median,
        "rounds": {name: [round(v, 2) for v in values] for name, values in rates.items()},
        "xla_over_graph": round(median["XLA"] / median["graph"], 3),
    }


def render(result):
    info = result["machine"]
    lines = [
        "# Phase 2 on CPU: graph vs XLA",
        "",
        f"{provenance(info)} Machine: {info['cpu']}, {info['cores']} cores, "
        f"TensorFlow {info.get('tensorflow')}, Keras {info.get('keras')}. {result['load']}",
        "",
        "MobileNetV2 classifier (`build_classifier`), the top fraction of the backbone "
        "trainable, Adam per part (`discriminative_optimizer`), batch 32, float32; medians of "
        f"{result['rounds']} interleaved rounds after one warm-up fit per side (the first fit "
        "includes tracing and, for XLA, compilation).",
        "",
        "| input px | trainable fraction | steps per round | graph images/s | XLA images/s | "
        "XLA / graph | first fit s (graph, XLA) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        rate, warm = row["images_per_second"], row["first_fit_seconds"]
        lines.append(
            f"| {row['size']} | {row['unfreeze_fraction']} | {row['steps']} | {rate['graph']} | "
            f"{rate['XLA']} | {row['xla_over_graph']}x | {warm['graph']}, {warm['XLA']} |"
        )
    slower = [r for r in result["rows"] if r["xla_over_graph"] < 1.0]
    verdict = (
        "XLA is slower than the plain graph at every size measured: phase 2 keeps "
        "`jit_compile` off on CPU (`configure_device`'s default)."
        if len(slower) == len(result["rows"])
        else "XLA is faster at some sizes: see the rows."
    )
    lines += ["", verdict, ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 160, 224])
    parser.add_argument("--fraction", type=float, default=1.0, help="'many' trains it all")
    parser.add_argument("--steps", type=int, default=4, help="steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="96 px, 2 rounds of 3 steps")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.rounds, args.steps = [96], 2, 3
    machine = describe()
    rows = []
    for size in args.sizes:
        rows.append(one_size(size, args.fraction, args.steps, args.rounds))
        print(rows[-1], flush=True)
    result = {
        "machine": machine,
        "rounds": args.rounds,
        "rows": rows,
        "load": load_note(machine),
        "headline": {f"XLA / graph at {r['size']} px": r["xla_over_graph"] for r in rows},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "phase2_xla.json", result)
    write_text(args.out / "phase2_xla.md", render(result))
    print(render(result))


if __name__ == "__main__":
    main()
