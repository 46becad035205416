"""kerasopt RBMs vs scikit-learn's BernoulliRBM, side by side in one process.

Same data (binarized images, float32 on both sides), hidden units, batch size, learning rate
and epochs; PCD on both sides (scikit-learn's only algorithm) and CD-1 on ours. scikit-learn
runs with 1 and with 2 BLAS threads (OpenBLAS threads thrash on small matrices on a loaded
machine) and the faster is the reference. Each run is the fastest of `--repeats` fits.
Ours runs as a new user would write it (`compile(optimizer=SGD(lr))`, `fit(x, batch_size=B)`:
the default path, which fuses each epoch into one compiled call and compiles it with XLA),
and with each choice forced: unfused (Keras feeds the minibatches, `steps_per_execution` =
one epoch) and `fused=True`, each with and without XLA, all in array order (`shuffle=False`)
like scikit-learn, with the default monitoring (training metrics on a tenth of each batch)
and, fused PCD, on every row (`monitor_fraction=1.0`; scikit-learn's `fit` monitors nothing
unless verbose). Reports seconds per epoch: whole `fit` divided by epochs (tracing and
compilation included) and in steady state the best single epoch (ours: the best epoch after
the first; scikit-learn's: its per-batch updates timed inside its fit), with both ratios;
the final pseudo-log-likelihood (both models scored by scikit-learn's own `score_samples`,
averaged over repeated random flips); and the achieved GFLOP/s against the best GEMM rate
measured on this machine (fp32, several sizes, 1 and all threads, NumPy and TensorFlow).
The pseudo-log-likelihood of one seed moves with its random stream, so PCD on both sides is
also compared over `--pll-seeds` seeds (mean, spread, every value).

Digits has 1,797 rows: with batch 64 the last batch holds 5 rows, and scikit-learn weights
that batch's negative phase by chains / rows (64 / 5), which pulls its pseudo-log-likelihood
down. The digits case therefore also runs on the first 1,792 rows (28 equal full batches).

    python -m benchmarks.rbm_vs_sklearn --repeats 2  # MNIST scale + digits (both readings), ~12 min
    python -m benchmarks.rbm_vs_sklearn --epochs 3 # quicker
    python -m benchmarks.rbm_vs_sklearn --quick  # smoke test: --only digits --epochs 1 --pll-seeds 0

The JAX rows run the default `fit(x)` (fused: one `lax.fori_loop` per epoch, jitted) in a child
process with KERAS_BACKEND=jax on the same data, in the same run as the TensorFlow rows and
scikit-learn (`--no-jax` leaves them out). `--default-only` keeps scikit-learn and the default
`fit(x)` rows of each backend (no forced-choice rows), for a short run; `--name` sets the
result files' name.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kerasopt.cli._offline import find_assets, use_offline_keras_home

ASSETS = find_assets()
use_offline_keras_home(ASSETS)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from keras import ops  # noqa: E402
from sklearn.neural_network import BernoulliRBM as SkBernoulliRBM  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from benchmarks._machine import describe, load_note, provenance  # noqa: E402
from kerasopt import datasets  # noqa: E402
from kerasopt._io import write_json, write_text  # noqa: E402
from kerasopt.pretraining import BernoulliRBM  # noqa: E402

GEMM_SIZES = (256, 512, 1024, 2048)


def gemm_peak(repeats=3):
    """The best fp32 GEMM rate measured here: square products of `GEMM_SIZES`, NumPy
    (OpenBLAS) with 1 and with all BLAS threads, TensorFlow's matmul (oneDNN, all threads) and
    the same under XLA, best of `repeats` each. Returns (GFLOP/s, what achieved it, every
    measurement)."""
    import tensorflow as tf

    rates = {}
    rng = np.random.default_rng(0)
    for n in GEMM_SIZES:
        a, b = (
            rng.standard_normal((n, n), dtype="float32"),
            rng.standard_normal((n, n), dtype="float32"),
        )
        for threads in sorted({1, os.cpu_count()}):
            with threadpool_limits(limits=threads, user_api="blas"):
                a @ b
                best = min(_timed(np.matmul, a, b) for _ in range(repeats))
            rates[f"NumPy {n}x{n}, {threads} thread{'s' if threads > 1 else ''}"] = (
                2 * n**3 / best / 1e9
            )
        ta, tb = tf.constant(a), tf.constant(b)
        for label, matmul in (("TensorFlow", tf.linalg.matmul), ("TensorFlow XLA", _xla_matmul)):
            matmul(ta, tb).numpy()
            best = min(_timed(_to_numpy, matmul, ta, tb) for _ in range(repeats))
            rates[f"{label} {n}x{n}"] = 2 * n**3 / best / 1e9
    label = max(rates, key=rates.get)
    return rates[label], label, rates


def _xla_matmul(a, b):
    import tensorflow as tf

    global _XLA_MATMUL
    if _XLA_MATMUL is None:
        _XLA_MATMUL = tf.function(tf.linalg.matmul, jit_compile=True)
    return _XLA_MATMUL(a, b)


_XLA_MATMUL = None


def _to_numpy(fn, *args):
    return fn(*args).numpy()


def _timed(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def machine():
    """The shared machine description plus the measured fp32 GEMM peak (`gemm_peak`)."""
    peak, label, rates = gemm_peak()
    return describe(**{"scikit-learn": sklearn.__version__, "numpy": np.__version__}) | {
        "peak_gflops_fp32": round(peak, 1),
        "peak_assumption": f"best measured fp32 GEMM ({label}) over sizes {GEMM_SIZES}, NumPy with 1 / all "
        "threads, TensorFlow with and without XLA",
        "gemm_gflops": {k: round(v, 1) for k, v in rates.items()},
    }


class _EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def pseudo_log_likelihood(components, hidden_bias, visible_bias, x, repeats=5):
    """scikit-learn's `score_samples` mean for the given parameters, over `repeats` flips."""
    scorer = SkBernoulliRBM(n_components=components.shape[0])
    scorer.components_, scorer.intercept_hidden_, scorer.intercept_visible_ = (
        components,
        hidden_bias,
        visible_bias,
    )
    scores = []
    for seed in range(repeats):
        scorer.random_state = seed
        scores.append(scorer.score_samples(x).mean())
    return float(np.mean(scores))


def run_sklearn(x, n_hidden, batch_size, lr, epochs, seed, repeats, blas_threads):
    """Best of `repeats` fits with `blas_threads` BLAS threads (min time is robust to load).
    Steady state, like ours the best single epoch: each epoch's minibatch updates are timed
    inside the fit (the per-batch `_fit` call, instrumented here) and summed."""
    whole, epoch_times = [], []
    batches_per_epoch = int(np.ceil(len(x) / batch_size))
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        for _ in range(repeats):
            rbm = SkBernoulliRBM(
                n_components=n_hidden,
                learning_rate=lr,
                batch_size=batch_size,
                n_iter=epochs,
                random_state=seed,
            )
            batch_times = []
            update = rbm._fit  # scikit-learn's one-minibatch update

            def timed_update(*args, update=update, batch_times=batch_times):
                start = time.perf_counter()
                update(*args)
                batch_times.append(time.perf_counter() - start)

            rbm._fit = timed_update
            start = time.perf_counter()
            rbm.fit(x)
            whole.append((time.perf_counter() - start) / epochs)
            epoch_times += [
                sum(batch_times[i : i + batches_per_epoch])
                for i in range(0, len(batch_times), batches_per_epoch)
            ]
    pll = pseudo_log_likelihood(rbm.components_, rbm.intercept_hidden_, rbm.intercept_visible_, x)
    return {
        "seconds_per_epoch": min(whole),
        "steady_seconds_per_epoch": min(epoch_times),
        "pseudo_log_likelihood": pll,
    }


def run_kerasopt(
    x,
    n_hidden,
    batch_size,
    lr,
    epochs,
    seed,
    repeats,
    persistent,
    jit_compile=None,
    fused=None,
    monitor_fraction=None,
):
    """Best of `repeats` fits, in array order like scikit-learn (`shuffle=False`).
    `fused=None, jit_compile=None`: the default path (`compile(optimizer=SGD(lr))`,
    `fit(x, batch_size=...)`). Unfused (`fused=False`): Keras feeds minibatches, one
    execution per epoch (`steps_per_execution` = the epoch's steps). Fused: the epoch's
    minibatch loop inside one compiled call. Steady state = the best epoch after the first,
    which traces and compiles. `monitor_fraction=None` keeps the library's default."""
    whole, steady = [], []
    options = {} if monitor_fraction is None else {"monitor_fraction": monitor_fraction}
    compile_options = {} if jit_compile is None else {"jit_compile": jit_compile}
    fit_options = {} if fused is None else {"fused": fused}
    if fused is False:
        compile_options["steps_per_execution"] = int(np.ceil(len(x) / batch_size))
    for _ in range(repeats):
        keras.utils.set_random_seed(seed)
        rbm = BernoulliRBM(
            n_hidden, persistent=persistent, n_chains=batch_size, seed=seed, **options
        )
        rbm.compile(optimizer=keras.optimizers.SGD(lr), **compile_options)
        timer = _EpochTimer()
        start = time.perf_counter()
        rbm.fit(
            x,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=False,
            verbose=0,
            callbacks=[timer],
            **fit_options,
        )
        whole.append((time.perf_counter() - start) / epochs)
        steady.append(min(timer.times[1:]))
    pll = pseudo_log_likelihood(
        *(
            ops.convert_to_numpy(w)
            for w in (ops.transpose(rbm.kernel), rbm.hidden_bias, rbm.visible_bias)
        ),
        x,
    )
    return {
        "seconds_per_epoch": min(whole),
        "steady_seconds_per_epoch": min(steady),
        "pseudo_log_likelihood": pll,
    }


def run_jax(x, n_hidden, batch_size, lr, epochs, seeds, repeats, persistent):
    """`run_kerasopt`'s default path (fused, one `lax.fori_loop` per epoch) under
    KERAS_BACKEND=jax in a child process, one result per seed (the backend is chosen when
    Keras is imported, so it cannot change in this process)."""
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "x.npy"
        np.save(data, x)
        arguments = [n_hidden, batch_size, lr, epochs, repeats, int(persistent), *seeds]
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.rbm_vs_sklearn", "--jax-worker", str(data)]
            + [str(a) for a in arguments],
            env={**os.environ, "KERAS_BACKEND": "jax"},
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"the JAX run failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def jax_worker(argv):
    """The child of `run_jax`: data path, n_hidden, batch, lr, epochs, repeats, persistent,
    seeds...; prints one JSON list of `run_kerasopt` results."""
    assert keras.backend.backend() == "jax", keras.backend.backend()
    path, n_hidden, batch_size, lr, epochs, repeats, persistent, *seeds = argv
    x = np.load(path)
    results = [
        run_kerasopt(
            x,
            int(n_hidden),
            int(batch_size),
            float(lr),
            int(epochs),
            int(s),
            int(repeats),
            bool(int(persistent)),
        )
        for s in seeds
    ]
    print(json.dumps(results))


def pll_over_seeds(x, n_hidden, batch_size, lr, epochs, seeds, default_only=False, jax=True):
    """Final pseudo-log-likelihood of PCD on both sides (ours: the default fit, fused under
    XLA, and the fused plain graph) for each seed: one seed's value moves with its random
    stream, so compare means and spreads."""
    runs = {
        "scikit-learn PCD": [
            run_sklearn(x, n_hidden, batch_size, lr, epochs, s, 1, 2)["pseudo_log_likelihood"]
            for s in seeds
        ]
    }
    choices = (("default fit(x): fused, XLA", None), ("graph, fused=True", False))
    for label, jit in choices[:1] if default_only else choices:
        runs[f"kerasopt PCD ({label})"] = [
            run_kerasopt(
                x, n_hidden, batch_size, lr, epochs, s, 1, True, jit, None if jit is None else True
            )["pseudo_log_likelihood"]
            for s in seeds
        ]
    if jax:
        runs[JAX_DEFAULT.format("PCD")] = [
            r["pseudo_log_likelihood"]
            for r in run_jax(x, n_hidden, batch_size, lr, epochs, seeds, 1, True)
        ]
    return {
        label: {
            "mean": float(np.mean(v)),
            "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
            "per_seed": v,
        }
        for label, v in runs.items()
    }


JAX_DEFAULT = "kerasopt {} (JAX, default fit(x): fused, jit)"


def case(
    name,
    x,
    n_hidden,
    batch_size,
    lr,
    epochs,
    seed,
    repeats,
    peak,
    pll_seeds,
    default_only=False,
    jax=True,
):
    print(
        f"== {name}: {x.shape[1]} visible, {n_hidden} hidden, batch {batch_size}, lr {lr}, {epochs} epochs",
        flush=True,
    )
    rows = {
        f"scikit-learn PCD ({n} BLAS thread{'s' if n > 1 else ''})": run_sklearn(
            x, n_hidden, batch_size, lr, epochs, seed, repeats, n
        )
        for n in (1, 2)
    }
    for algorithm, persistent in (("PCD", True), ("CD-1", False)):
        rows[f"kerasopt {algorithm} (default fit(x): fused, XLA)"] = run_kerasopt(
            x, n_hidden, batch_size, lr, epochs, seed, repeats, persistent
        )
        if jax:
            rows[JAX_DEFAULT.format(algorithm)] = run_jax(
                x, n_hidden, batch_size, lr, epochs, [seed], repeats, persistent
            )[0]
        if default_only:
            continue
        for fused in (True, False):
            for jit in (True, False):
                label = f"kerasopt {algorithm} ({'XLA' if jit else 'graph'}{', fused=True' if fused else ''})"
                rows[label] = run_kerasopt(
                    x, n_hidden, batch_size, lr, epochs, seed, repeats, persistent, jit, fused
                )
        if persistent:  # every row monitored: PCD's reconstruction_error costs a sixth product
            for jit in (True, False):
                rows[
                    f"kerasopt PCD ({'XLA' if jit else 'graph'}, fused=True, monitor_fraction=1.0)"
                ] = run_kerasopt(
                    x,
                    n_hidden,
                    batch_size,
                    lr,
                    epochs,
                    seed,
                    repeats,
                    persistent,
                    jit,
                    True,
                    monitor_fraction=1.0,
                )
    # Five matrix products of 2*B*V*H FLOP per batch (positive hiddens, negative visibles,
    # negative hiddens, two outer-product statistics).
    flop_per_epoch = 5 * 2 * len(x) * x.shape[1] * n_hidden
    reference = [row for label, row in rows.items() if label.startswith("scikit")]
    base = min(row["seconds_per_epoch"] for row in reference)  # the faster scikit-learn
    steady_base = min(row["steady_seconds_per_epoch"] for row in reference)
    for label, row in rows.items():
        seconds = row["steady_seconds_per_epoch"]
        row["speedup_vs_sklearn"] = base / row["seconds_per_epoch"]
        row["steady_speedup_vs_sklearn"] = steady_base / seconds
        row["gflops"] = flop_per_epoch / seconds / 1e9
        row["fraction_of_peak"] = row["gflops"] / peak
        print(f"  {label:40s} " + ", ".join(f"{k}={v:.4g}" for k, v in row.items()), flush=True)
    seeds = list(range(seed, seed + pll_seeds))
    over_seeds = (
        pll_over_seeds(x, n_hidden, batch_size, lr, epochs, seeds, default_only, jax)
        if pll_seeds
        else {}
    )
    for label, r in over_seeds.items():
        print(
            f"  pseudo-log-likelihood over seeds {seeds}: {label:32s} {r['mean']:.2f} +- {r['sd']:.2f}",
            flush=True,
        )
    return {
        "visible": x.shape[1],
        "hidden": n_hidden,
        "batch_size": batch_size,
        "learning_rate": lr,
        "epochs": epochs,
        "samples": len(x),
        "flop_per_epoch": flop_per_epoch,
        "results": rows,
        "pll_seeds": seeds if pll_seeds else [],
        "pll_over_seeds": over_seeds,
    }


def to_markdown(report):
    m = report["machine"]
    lines = [
        "# kerasopt RBM vs scikit-learn BernoulliRBM",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; TensorFlow {m['tensorflow']}, "
        f"Keras {m['keras']}, scikit-learn {m['scikit-learn']}, NumPy {m['numpy']}. "
        f"Peak {m['peak_gflops_fp32']} GFLOP/s = {m['peak_assumption']}.",
        "",
        f"{provenance(m)} {report['note']}",
        "",
    ]
    above = [
        f"{name}: {label}"
        for name, c in report["cases"].items()
        for label, r in c["results"].items()
        if r["fraction_of_peak"] > 1
    ]
    if above:  # the column is only meaningful while no run beats the measured peak
        lines += [f"**The measured peak is not a peak**: exceeded by {', '.join(above)}.", ""]
    for name, c in report["cases"].items():
        lines += [
            f"## {name}: {c['visible']} visible, {c['hidden']} hidden, batch {c['batch_size']}, "
            f"lr {c['learning_rate']}, {c['epochs']} epochs, {c['samples']} samples",
            "",
            "| run | s/epoch (whole fit) | whole-fit speed-up vs faster scikit-learn | s/epoch (steady) | steady speed-up | GFLOP/s | % of peak | pseudo-log-likelihood |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for label, r in c["results"].items():
            steady = r["steady_seconds_per_epoch"]
            lines.append(
                f"| {label} | {r['seconds_per_epoch']:.4f} | {r['speedup_vs_sklearn']:.2f}x | "
                f"{steady:.4f} | {r['steady_speedup_vs_sklearn']:.2f}x | "
                f"{r['gflops']:.1f} | {100 * r['fraction_of_peak']:.1f}% | {r['pseudo_log_likelihood']:.2f} |"
            )
        lines.append("")
        if c["pll_over_seeds"]:
            lines += [
                f"Final pseudo-log-likelihood over seeds {c['pll_seeds']} (PCD, same budget):",
                "",
                "| run | mean | sd | per seed |",
                "|---|---|---|---|",
            ]
            for label, r in c["pll_over_seeds"].items():
                per_seed = ", ".join(f"{v:.2f}" for v in r["per_seed"])
                lines.append(f"| {label} | {r['mean']:.2f} | {r['sd']:.2f} | {per_seed} |")
            lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--epochs", type=int, default=5, help="epochs at MNIST scale (digits: 4x as many)"
    )
    parser.add_argument("--repeats", type=int, default=1, help="fits per run; the fastest is kept")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pll-seeds",
        type=int,
        default=5,
        help="seeds (from --seed) of the pseudo-log-likelihood comparison; 0 skips it",
    )
    parser.add_argument("--only", choices=["mnist", "digits"], help="run one case only")
    parser.add_argument(
        "--out", default="benchmarks/results", help="folder for rbm_vs_sklearn.json/.md"
    )
    parser.add_argument(
        "--note", default="", help="free text stored with the results (e.g. machine load)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: --only digits --epochs 1 --pll-seeds 0"
    )
    parser.add_argument("--no-jax", dest="jax", action="store_false", help="leave out the JAX rows")
    parser.add_argument(
        "--default-only",
        action="store_true",
        help="scikit-learn and each backend's default fit(x) only (no forced-choice rows)",
    )
    parser.add_argument("--name", default="rbm_vs_sklearn", help="name of the result files")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--jax-worker"]:
        return jax_worker(argv[1:])
    args = parser.parse_args(argv)
    if args.quick:
        args.only, args.epochs, args.pll_seeds, args.repeats = "digits", 1, 0, 1
    info = machine()
    cases = {}
    if args.only != "digits" and ASSETS is None:
        print("offline assets not found: MNIST scale skipped")
    elif args.only != "digits":
        images, _ = datasets.mnist_t10k(ASSETS)
        x = (images.reshape(len(images), -1) > 127).astype("float32")
        cases["MNIST scale"] = case(
            "MNIST scale",
            x,
            500,
            100,
            args.lr,
            args.epochs,
            args.seed,
            args.repeats,
            info["peak_gflops_fp32"],
            args.pll_seeds,
            args.default_only,
            args.jax,
        )
    if args.only != "mnist":
        images, _ = datasets.digits()
        x = (images.reshape(len(images), -1) > 8).astype("float32")
        cases["digits"] = case(
            "digits",
            x,
            128,
            64,
            args.lr,
            4 * args.epochs,
            args.seed,
            args.repeats,
            info["peak_gflops_fp32"],
            args.pll_seeds,
            args.default_only,
            args.jax,
        )
        full = x[: len(x) // 64 * 64]  # 1,792 rows: 28 equal batches, no partial last batch
        cases["digits, equal full batches"] = case(
            "digits, equal full batches",
            full,
            128,
            64,
            args.lr,
            4 * args.epochs,
            args.seed,
            args.repeats,
            info["peak_gflops_fp32"],
            args.pll_seeds,
            args.default_only,
            args.jax,
        )
    default = "kerasopt PCD (default fit(x): fused, XLA)"
    headline = {"fp32 GEMM peak, GFLOP/s": info["peak_gflops_fp32"]}
    for name, c in cases.items():
        r = c["results"][default]
        headline[f"{name}: default fit(x) steady speed-up vs scikit-learn"] = r[
            "steady_speedup_vs_sklearn"
        ]
        headline[f"{name}: whole-fit speed-up"] = r["speedup_vs_sklearn"]
        headline[f"{name}: % of peak"] = 100 * r["fraction_of_peak"]
        if JAX_DEFAULT.format("PCD") in c["results"]:
            headline[f"{name}: JAX default fit(x) steady speed-up vs scikit-learn"] = c["results"][
                JAX_DEFAULT.format("PCD")
            ]["steady_speedup_vs_sklearn"]
    report = {
        "machine": info,
        "note": (args.note + " " if args.note else "") + load_note(info),
        "cases": cases,
        "headline": headline,
    }
    out = Path(args.out)
    write_json(out / f"{args.name}.json", report)
    write_text(out / f"{args.name}.md", to_markdown(report))
    print(f"wrote {out / args.name}.json and .md")


if __name__ == "__main__":
    main()
