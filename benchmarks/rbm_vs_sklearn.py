"""kerasopt RBMs vs scikit-learn's BernoulliRBM, side by side in one process.

Same data (binarized images, float32 on both sides), hidden units, batch size, learning rate
and epochs; PCD on both sides (scikit-learn's only algorithm) and CD-1 on ours. scikit-learn
runs with 1 and with 2 BLAS threads (OpenBLAS threads thrash on small matrices on a loaded
machine) and the faster is the reference. Each run is the fastest of `--repeats` fits.
Ours runs unfused (Keras feeds the minibatches, `steps_per_execution` = one epoch) and with
`fit(..., fused=True)` (the epoch's minibatch loop inside one compiled call), each with and
without XLA, all in array order (`shuffle=False`) like scikit-learn, with the default
monitoring (training metrics on a tenth of each batch) and, fused PCD, on every row
(`monitor_fraction=1.0`; scikit-learn's `fit` monitors nothing unless verbose).
Reports seconds per epoch: whole `fit` divided by epochs, and in steady state the best
single epoch (ours: the best epoch after the first, which traces and compiles;
scikit-learn's: the fastest one-epoch fit); the final pseudo-log-likelihood (both models
scored by scikit-learn's own `score_samples`, averaged over repeated random flips); and at
MNIST scale the achieved GFLOP/s against this machine's peak. The pseudo-log-likelihood of one
seed moves with its random stream, so PCD on both sides is also compared over `--pll-seeds`
seeds (mean, spread, every value).

    python -m benchmarks.rbm_vs_sklearn            # MNIST scale + digits, ~5 min
    python -m benchmarks.rbm_vs_sklearn --epochs 3 # quicker
"""

import argparse
import os
import time
from pathlib import Path

from recipes._offline import find_assets, use_offline_keras_home

ASSETS = find_assets()
use_offline_keras_home(ASSETS)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from keras import ops  # noqa: E402
from sklearn.neural_network import BernoulliRBM as SkBernoulliRBM  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from benchmarks._machine import describe  # noqa: E402
from kerasopt import datasets  # noqa: E402
from kerasopt._io import write_json, write_text  # noqa: E402
from kerasopt._platform import cpuinfo  # noqa: E402
from kerasopt.pretraining import BernoulliRBM  # noqa: E402

FLOP_PER_CYCLE = 32  # fp32, AVX2 + FMA: 2 FMA units x 8 lanes x 2 FLOP


def machine():
    """The shared machine description plus clock and the fp32 peak derived from /proc/cpuinfo."""
    flags = cpuinfo("flags").split()
    cores = os.cpu_count()
    ghz = float(cpuinfo("cpu MHz")) / 1000.0
    simd = "avx2" in flags and "fma" in flags
    flop_per_cycle = FLOP_PER_CYCLE if simd else 8
    return describe(**{"scikit-learn": sklearn.__version__, "numpy": np.__version__}) | {
        "ghz": round(ghz, 3),
        "avx2_fma": simd,
        "peak_gflops_fp32": round(cores * ghz * flop_per_cycle, 1),
        "peak_assumption": f"{cores} cores x {ghz:.3f} GHz x {flop_per_cycle} FLOP/cycle "
        "(fp32 FMA on two 256-bit AVX2 units; no turbo)",
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
    scorer.components_, scorer.intercept_hidden_, scorer.intercept_visible_ = components, hidden_bias, visible_bias
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
            rbm = SkBernoulliRBM(n_components=n_hidden, learning_rate=lr, batch_size=batch_size, n_iter=epochs, random_state=seed)
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
            epoch_times += [sum(batch_times[i : i + batches_per_epoch]) for i in range(0, len(batch_times), batches_per_epoch)]
    pll = pseudo_log_likelihood(rbm.components_, rbm.intercept_hidden_, rbm.intercept_visible_, x)
    return {"seconds_per_epoch": min(whole), "steady_seconds_per_epoch": min(epoch_times), "pseudo_log_likelihood": pll}


def run_kerasopt(x, n_hidden, batch_size, lr, epochs, seed, repeats, persistent, jit_compile, fused=False, monitor_fraction=None):
    """Best of `repeats` fits, in array order like scikit-learn (`shuffle=False`). Unfused:
    Keras feeds minibatches, one execution per epoch (`steps_per_execution` = the epoch's
    steps). Fused: `fit(..., fused=True)`, the epoch's minibatch loop inside one compiled
    call. Steady state = the best epoch after the first, which traces and compiles.
    `monitor_fraction=None` keeps the library's default."""
    whole, steady = [], []
    options = {} if monitor_fraction is None else {"monitor_fraction": monitor_fraction}
    steps = int(np.ceil(len(x) / batch_size))
    for _ in range(repeats):
        keras.utils.set_random_seed(seed)
        rbm = BernoulliRBM(n_hidden, persistent=persistent, n_chains=batch_size, seed=seed, **options)
        rbm.compile(optimizer=keras.optimizers.SGD(lr), jit_compile=jit_compile, steps_per_execution=1 if fused else steps)
        timer = _EpochTimer()
        start = time.perf_counter()
        rbm.fit(x, epochs=epochs, batch_size=batch_size, shuffle=False, fused=fused, verbose=0, callbacks=[timer])
        whole.append((time.perf_counter() - start) / epochs)
        steady.append(min(timer.times[1:]))
    pll = pseudo_log_likelihood(*(ops.convert_to_numpy(w) for w in (ops.transpose(rbm.kernel), rbm.hidden_bias, rbm.visible_bias)), x)
    return {"seconds_per_epoch": min(whole), "steady_seconds_per_epoch": min(steady), "pseudo_log_likelihood": pll}


def pll_over_seeds(x, n_hidden, batch_size, lr, epochs, seeds):
    """Final pseudo-log-likelihood of PCD on both sides (ours fused, with and without XLA) for
    each seed: one seed's value moves with its random stream, so compare means and spreads."""
    runs = {"scikit-learn PCD": [run_sklearn(x, n_hidden, batch_size, lr, epochs, s, 1, 2)["pseudo_log_likelihood"] for s in seeds]}
    for jit in (True, False):
        runs[f"kerasopt PCD ({'XLA' if jit else 'graph'}, fused=True)"] = [
            run_kerasopt(x, n_hidden, batch_size, lr, epochs, s, 1, True, jit, True)["pseudo_log_likelihood"] for s in seeds
        ]
    return {label: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "per_seed": v} for label, v in runs.items()}


def case(name, x, n_hidden, batch_size, lr, epochs, seed, repeats, peak, pll_seeds):
    print(f"== {name}: {x.shape[1]} visible, {n_hidden} hidden, batch {batch_size}, lr {lr}, {epochs} epochs", flush=True)
    rows = {
        f"scikit-learn PCD ({n} BLAS thread{'s' if n > 1 else ''})": run_sklearn(x, n_hidden, batch_size, lr, epochs, seed, repeats, n)
        for n in (1, 2)
    }
    for algorithm, persistent in (("PCD", True), ("CD-1", False)):
        for fused in (True, False):
            for jit in (True, False):
                label = f"kerasopt {algorithm} ({'XLA' if jit else 'graph'}{', fused=True' if fused else ''})"
                rows[label] = run_kerasopt(x, n_hidden, batch_size, lr, epochs, seed, repeats, persistent, jit, fused)
        if persistent:  # every row monitored: PCD's reconstruction_error costs a sixth product
            for jit in (True, False):
                rows[f"kerasopt PCD ({'XLA' if jit else 'graph'}, fused=True, monitor_fraction=1.0)"] = run_kerasopt(
                    x, n_hidden, batch_size, lr, epochs, seed, repeats, persistent, jit, True, monitor_fraction=1.0
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
    over_seeds = pll_over_seeds(x, n_hidden, batch_size, lr, epochs, seeds) if pll_seeds else {}
    for label, r in over_seeds.items():
        print(f"  pseudo-log-likelihood over seeds {seeds}: {label:32s} {r['mean']:.2f} +- {r['sd']:.2f}", flush=True)
    return {"visible": x.shape[1], "hidden": n_hidden, "batch_size": batch_size, "learning_rate": lr,
            "epochs": epochs, "samples": len(x), "flop_per_epoch": flop_per_epoch, "results": rows,
            "pll_seeds": seeds if pll_seeds else [], "pll_over_seeds": over_seeds}


def to_markdown(report):
    m = report["machine"]
    lines = [
        "# kerasopt RBM vs scikit-learn BernoulliRBM",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores at {m['ghz']} GHz; TensorFlow {m['tensorflow']}, "
        f"Keras {m['keras']}, scikit-learn {m['scikit-learn']}, NumPy {m['numpy']}. "
        f"Peak {m['peak_gflops_fp32']} GFLOP/s = {m['peak_assumption']}.",
        "",
        f"Command: `{report['command']}`. {report['note']}",
        "",
    ]
    for name, c in report["cases"].items():
        lines += [
            f"## {name}: {c['visible']} visible, {c['hidden']} hidden, batch {c['batch_size']}, "
            f"lr {c['learning_rate']}, {c['epochs']} epochs, {c['samples']} samples",
            "",
            "| run | s/epoch (whole fit) | speed-up vs faster scikit-learn | s/epoch (steady) | steady speed-up | GFLOP/s | % of peak | pseudo-log-likelihood |",
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5, help="epochs at MNIST scale (digits: 4x as many)")
    parser.add_argument("--repeats", type=int, default=1, help="fits per run; the fastest is kept")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pll-seeds", type=int, default=5, help="seeds (from --seed) of the pseudo-log-likelihood comparison; 0 skips it")
    parser.add_argument("--only", choices=["mnist", "digits"], help="run one case only")
    parser.add_argument("--out", default="benchmarks/results", help="folder for rbm_vs_sklearn.json/.md")
    parser.add_argument("--note", default="", help="free text stored with the results (e.g. machine load)")
    args = parser.parse_args()
    info = machine()
    cases = {}
    if args.only != "digits" and ASSETS is None:
        print("offline assets not found: MNIST scale skipped")
    elif args.only != "digits":
        images, _ = datasets.mnist_t10k(ASSETS)
        x = (images.reshape(len(images), -1) > 127).astype("float32")
        cases["MNIST scale"] = case("MNIST scale", x, 500, 100, args.lr, args.epochs, args.seed, args.repeats, info["peak_gflops_fp32"], args.pll_seeds)
    if args.only != "mnist":
        images, _ = datasets.digits()
        x = (images.reshape(len(images), -1) > 8).astype("float32")
        cases["digits"] = case("digits", x, 128, 64, args.lr, 4 * args.epochs, args.seed, args.repeats, info["peak_gflops_fp32"], args.pll_seeds)
    load = os.getloadavg()
    report = {
        "machine": info,
        "command": "python -m benchmarks.rbm_vs_sklearn " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "note" and v is not None),
        "note": (args.note + " " if args.note else "") + f"Load average at the end: {load[0]:.1f} (1 min), {load[1]:.1f} (5 min).",
        "cases": cases,
    }
    out = Path(args.out)
    write_json(out / "rbm_vs_sklearn.json", report)
    write_text(out / "rbm_vs_sklearn.md", to_markdown(report))
    print(f"wrote {out / 'rbm_vs_sklearn.json'} and .md")


if __name__ == "__main__":
    main()
