"""Two local workers vs one under `tf.distribute.MultiWorkerMirroredStrategy`, on CPU.

    python -m benchmarks.multi_worker [--epochs 4] [--timeout 300]   (--quick: 2 epochs)

Runs the same deterministic training (a small tanh network on a fixed regression problem)
as a 1-worker and as a 2-worker cluster on 127.0.0.1 (`kerasopt.distributed.launch_local`):
model A with `Averaged(SGD(OneCycle))` and `SwapAveragedWeights`, model B with
`Lookahead(RMSpropNesterov)` and a `SnapshotEnsemble`. Each worker writes only through the
chief-only helpers, into `out/worker_<index>/`, so a file from a non-chief worker would
show. Reports the largest difference of the final weights and of Averaged's averages
between the two runs, and the throughput (examples per second after the first epoch, the
same global batch). Writes benchmarks/results/multi_worker.{json,md} (`--out`).

    python -m benchmarks.multi_worker --worker --work DIR   # one worker (TF_CONFIG from the launcher)
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from kerasopt import distributed  # noqa: E402
from kerasopt._io import atomic_path, write_json, write_text  # noqa: E402

N, FEATURES, GLOBAL_BATCH = 512, 16, 32


def problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, FEATURES)).astype("float32")
    y = (
        np.tanh(x @ rng.normal(size=(FEATURES, 4))) @ rng.normal(size=(4, 1))
        + 0.1 * rng.normal(size=(N, 1))
    ).astype("float32")
    return x, y


def _save_npz(path, **arrays):
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def worker(out, epochs):
    """One worker of the cluster that `TF_CONFIG` names: one thread, the multi-worker strategy."""
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    train(distributed.multi_worker_strategy(), out, epochs)


def train(strategy, out, epochs):
    """The training each worker runs under `strategy`, writing into `out/worker_<index>/`
    through the chief-only helpers. With TensorFlow's default strategy and no `TF_CONFIG` it is
    the single-process reference (tests/test_distributed.py)."""
    import keras
    import tensorflow as tf

    from kerasopt.callbacks import SnapshotEnsemble, SwapAveragedWeights
    from kerasopt.optimizers import Averaged, Lookahead, RMSpropNesterov
    from kerasopt.schedules import OneCycle

    class Timer(keras.callbacks.Callback):
        """Wall time of each epoch."""

        def on_train_begin(self, logs=None):
            self.epoch_seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_seconds.append(time.perf_counter() - self._start)

    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {"index": 0})
    folder = Path(out) / f"worker_{task['index']}"
    x, y = problem()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH).with_options(options)
    steps = N // GLOBAL_BATCH

    def network(seed):
        init = keras.initializers.GlorotUniform(seed=seed)
        return keras.Sequential(
            [
                keras.Input((FEATURES,)),
                keras.layers.Dense(16, activation="tanh", kernel_initializer=init),
                keras.layers.Dense(1, kernel_initializer=init),
            ]
        )

    with strategy.scope():
        model_a = network(1)
        inner = keras.optimizers.SGD(OneCycle(0.05, epochs * steps), momentum=0.9)
        model_a.compile(Averaged(inner, method="polyak", finalize=False), "mse")
        model_b = network(2)
        model_b.compile(Lookahead(RMSpropNesterov(0.01), sync_period=3), "mse")
    timer = Timer()
    history_a = model_a.fit(
        data, epochs=epochs, verbose=0, callbacks=[SwapAveragedWeights(), timer]
    )
    raw_a = model_a.get_weights()
    model_a.optimizer.assign_average_to()
    averages_a = model_a.get_weights()
    snapshots = SnapshotEnsemble(folder / "snapshots", n_snapshots=2, max_lr=0.01)
    model_b.fit(data, epochs=epochs, verbose=0, callbacks=[snapshots])
    seconds = sum(timer.epoch_seconds[1:]) or timer.epoch_seconds[0]
    throughput = N * max(epochs - 1, 1) / seconds
    distributed.chief_only(
        _save_npz,
        folder / "weights.npz",
        **{f"a_raw_{i}": w for i, w in enumerate(raw_a)},
        **{f"a_average_{i}": w for i, w in enumerate(averages_a)},
        **{f"b_{i}": w for i, w in enumerate(model_b.get_weights())},
    )
    distributed.chief_only(
        write_json,
        folder / "metrics.json",
        {
            "loss_a": [float(v) for v in history_a.history["loss"]],
            "examples_per_second": throughput,
            "workers": strategy.num_replicas_in_sync,
        },
    )
    print(
        f"worker {task['index']}: done, chief={distributed.is_chief()}, "
        f"{throughput:.0f} examples/s",
        flush=True,
    )


def run(n_workers, out, epochs, timeout):
    distributed.launch_local(
        "benchmarks.multi_worker",
        ["--worker", "--work", out, "--epochs", epochs],
        n_workers=n_workers,
        timeout=timeout,
        log_dir=Path(out) / "logs",
    )
    chief = Path(out) / "worker_0"
    return dict(np.load(chief / "weights.npz")), json.loads((chief / "metrics.json").read_text())


def compare(one, two):
    """Largest absolute difference of the final raw weights, Averaged's averages and model B."""
    keys = {"raw": "a_raw_", "average": "a_average_", "lookahead": "b_"}
    return {
        name: max(float(np.max(np.abs(one[k] - two[k]))) for k in one if k.startswith(prefix))
        for name, prefix in keys.items()
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", action="store_true", help="run as one worker of a cluster")
    parser.add_argument(
        "--work", type=Path, default=None, help="the workers' folder (default: a new temporary one)"
    )
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--quick", action="store_true", help="2 epochs")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = 2
    if args.epochs < 2 or args.epochs % 2:
        parser.error(
            f"--epochs must be an even number >= 2 (two snapshots). Received: {args.epochs}"
        )
    if args.worker:
        if args.work is None:
            parser.error("--worker needs --work")
        return worker(args.work, args.epochs)
    from benchmarks._machine import describe, load_note, provenance

    machine = describe()
    base = args.work or Path(tempfile.mkdtemp(prefix="multi_worker_"))
    one_w, one = run(1, base / "one", args.epochs, args.timeout)
    two_w, two = run(2, base / "two", args.epochs, args.timeout)
    diffs = compare(one_w, two_w)
    rows = [{"workers": 1, **one}, {"workers": 2, **two}]
    result = {
        "machine": machine,
        "load": load_note(machine),
        "epochs": args.epochs,
        "examples": N,
        "global_batch": GLOBAL_BATCH,
        "max_abs_difference": diffs,
        "runs": rows,
        "non_chief_files": sorted(str(p) for p in (base / "two" / "worker_1").rglob("*")),
    }
    result["headline"] = {
        "examples/s, 2 workers / 1 worker": two["examples_per_second"] / one["examples_per_second"],
        "largest |1 worker - 2 workers| weight difference": max(diffs.values()),
        "files written by the non-chief worker": len(result["non_chief_files"]),
    }
    write_json(args.out / "multi_worker.json", result)
    lines = [
        "# Multi-worker (MultiWorkerMirroredStrategy, CPU, 127.0.0.1)",
        "",
        f"`python -m benchmarks.multi_worker{' --quick' if args.quick else f' --epochs {args.epochs}'}`. "
        + result["load"],
        "",
        "| workers | examples/s (epochs 2..E) |",
        "|---|---|",
    ]
    lines += [f"| {r['workers']} | {r['examples_per_second']:.0f} |" for r in rows]
    lines += [
        "",
        "Largest |1 worker - 2 workers| after training: "
        + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()),
        f"Files written by the non-chief worker: {len(result['non_chief_files'])}",
        "",
        provenance(machine),
        "",
    ]
    write_text(args.out / "multi_worker.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
