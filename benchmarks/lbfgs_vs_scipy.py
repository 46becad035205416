"""kerasopt L-BFGS against SciPy's L-BFGS-B driving the same Keras model, side by side.

    python -m benchmarks.lbfgs_vs_scipy [--mlp-iterations 300] [--logistic-iterations 100]
                                        [--per-call 10]

Full-batch training of (a) an MLP 1-32-32-1 (tanh) fitting sin(3x) + x on 256 points and
(b) logistic regression on scikit-learn's breast-cancer data
(standardized). SciPy's side is the usual workaround: the model's trainable weights flattened
into one float64 vector, a `tf.function` returning loss and gradient for a vector,
`scipy.optimize.minimize(..., method="L-BFGS-B", jac=True)`. Both start from the same weights
with memory 10; each side runs --repeats times (fastest counts, against CPU contention). SciPy
runs its iteration budget; the target is the loss it reaches. kerasopt runs
`kerasopt.second_order.fit` with `compile(steps_per_execution=--per-call)` (that many
iterations per compiled call, the iteration loop in the graph), with XLA (`jit_compile=True`)
and without (plain graph); a callback stops it after the first call that reaches the target.
Reported: wall time and loss-and-gradient evaluations each side needs to first reach the
target, both in total and in steady state, without the one-time graph construction (SciPy:
the time after its first evaluation, which traces its tf.function; kerasopt: the iteration
rate after its first call, which traces and, with XLA, compiles, times the iterations to the
target), and the loss of
Keras' Adam (full batch, lr 1e-2, 50 steps per compiled call, warmed up) given kerasopt's
steady-state XLA time. Results go to benchmarks/results/lbfgs_vs_scipy.{json,md} with a
machine description.
"""

import argparse
import os
import time

import keras
import numpy as np
import scipy.optimize
import tensorflow as tf
from sklearn.datasets import load_breast_cancer

import kerasopt
from benchmarks._machine import describe
from kerasopt._io import write_json, write_text
from kerasopt.second_order import LBFGS, fit


def _mlp_problem():
    x = np.linspace(-2.0, 2.0, 256, dtype="float32")[:, None]
    y = (np.sin(3.0 * x) + x).astype("float32")
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(32, activation="tanh"),
                              keras.layers.Dense(32, activation="tanh"), keras.layers.Dense(1)])
    return model, x, y, "mse"


def _logistic_problem():
    data = load_breast_cancer()
    x = ((data.data - data.data.mean(0)) / data.data.std(0)).astype("float32")
    y = data.target.astype("float32")[:, None]
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(1, activation="sigmoid")])
    return model, x, y, "binary_crossentropy"


def _scipy_lbfgsb(model, x, y, iterations):
    """SciPy L-BFGS-B on the flattened weights; returns per-evaluation (seconds, loss) and nfev."""
    variables = model.trainable_variables
    shapes = [tuple(v.shape) for v in variables]
    sizes = [int(np.prod(s)) for s in shapes]
    loss_fn = kerasopt.diagnostics.model_loss_fn(model, tf.constant(x), tf.constant(y))

    @tf.function
    def value_and_grad(flat):
        for v, part, shape in zip(variables, tf.split(flat, sizes), shapes, strict=True):
            v.assign(tf.reshape(part, shape))
        with tf.GradientTape() as tape:
            loss = loss_fn()
        return loss, tf.concat([tf.reshape(g, [-1]) for g in tape.gradient(loss, variables)], 0)

    x0 = np.concatenate([v.numpy().ravel() for v in variables])
    log = []
    start = time.perf_counter()

    def f(w):
        loss, grad = value_and_grad(tf.constant(w, tf.float32))
        log.append((time.perf_counter() - start, float(loss)))
        return float(loss), grad.numpy().astype(np.float64)

    result = scipy.optimize.minimize(f, x0, jac=True, method="L-BFGS-B",
                                     options={"maxiter": iterations, "maxcor": 10, "ftol": 0.0, "gtol": 0.0})
    return log, result.nfev, result.nit


class _Clock(keras.callbacks.Callback):
    """Records (seconds, loss, evaluations) per compiled call (an epoch); stops at the target loss."""

    def __init__(self, target=None):
        super().__init__()
        self.target, self.log = target, []

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.log.append((time.perf_counter() - self.start, logs["loss"], logs["evaluations"], logs["iterations"]))
        if self.target is not None and logs["loss"] <= self.target:
            self.model.stop_training = True


def _adam_at_time(model, x, y, seconds, steps_per_call=50):
    """Full-batch Adam (lr 1e-2) for `seconds` of steady-state wall time; returns (steps, loss)."""
    optimizer = keras.optimizers.Adam(1e-2)
    optimizer.build(model.trainable_variables)
    variables = model.trainable_variables
    loss_fn = kerasopt.diagnostics.model_loss_fn(model, tf.constant(x), tf.constant(y))

    @tf.function
    def steps():
        for _ in tf.range(steps_per_call):
            with tf.GradientTape() as tape:
                loss = loss_fn()
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss_fn()

    weights = model.get_weights()
    state = [v.numpy() for v in optimizer.variables]
    steps()  # trace once, then restore weights and optimizer state
    model.set_weights(weights)
    for v, value in zip(optimizer.variables, state, strict=True):
        v.assign(value)
    start, count = time.perf_counter(), 0
    while True:
        loss = float(steps())
        count += steps_per_call
        if time.perf_counter() - start >= seconds:
            return count, loss


def _first_reach(log, target):
    return next(((i, entry) for i, entry in enumerate(log) if entry[1] <= target), (None, None))


def _kerasopt(model, initial, loss, x, y, target, iterations, per_call, jit_compile, repeats):
    """Fastest of `repeats` runs of `fit` stopped at the first call reaching `target`."""
    runs = []
    for _ in range(repeats):
        model.set_weights(initial)
        model.compile(optimizer=LBFGS(gtol=0.0, ftol=0.0), loss=loss, steps_per_execution=per_call,
                      jit_compile=jit_compile)
        clock = _Clock(target)
        history = fit(model, x, y, max_iterations=50 * iterations, callbacks=[clock], verbose=0)
        _, hit = _first_reach(clock.log, target)
        last = hit or clock.log[-1]
        first_seconds, first_iterations = clock.log[0][0], clock.log[0][3]
        # Steady state: the iteration rate after the first call (which traces and compiles),
        # applied to every iteration up to the target.
        steady = (last[0] - first_seconds) / (last[3] - first_iterations) * last[3] if last[3] > first_iterations else None
        runs.append({"reached_target": hit is not None, "seconds_to_target": last[0], "steady_seconds_to_target": steady,
                     "first_call_seconds": first_seconds, "evaluations_to_target": int(last[2]),
                     "iterations_to_target": int(last[3]), "final_loss": clock.log[-1][1],
                     "message": history.convergence.message})
    if any(r["steady_seconds_to_target"] is None for r in runs):
        raise SystemExit(f"kerasopt reached the target within its first call of {per_call} iterations: "
                         "lower --per-call to measure a steady-state rate")
    best = min(runs, key=lambda r: r["seconds_to_target"])
    return best | {"steady_seconds_to_target": min(r["steady_seconds_to_target"] for r in runs),
                   "all_runs": [(r["seconds_to_target"], r["steady_seconds_to_target"]) for r in runs]}


VARIANTS = {"XLA": True, "graph": False}


def _case(name, make, iterations, repeats, per_call):
    """Each side runs `repeats` times from the same weights; the fastest run counts."""
    keras.utils.set_random_seed(0)
    model, x, y, loss = make()
    model.compile(optimizer=LBFGS(), loss=loss)  # SciPy's side uses the compiled loss
    initial = [w.copy() for w in model.get_weights()]

    scipy_runs = []
    for _ in range(repeats):
        model.set_weights(initial)
        scipy_runs.append(_scipy_lbfgsb(model, x, y, iterations))
    target = min(entry[1] for entry in scipy_runs[0][0])
    scipy_times = []
    for log, _, _ in scipy_runs:
        index, hit = _first_reach(log, target)
        scipy_times.append((hit[0], hit[0] - log[0][0], index))
    scipy_total = min(t[0] for t in scipy_times)
    scipy_steady = min(t[1] for t in scipy_times)
    scipy_nfev, scipy_nit = scipy_runs[0][1], scipy_runs[0][2]

    print(f"{name}: SciPy {scipy_total:.2f} s to loss {target:.4g} in {scipy_times[0][2] + 1} evaluations", flush=True)
    ours = {}
    for label, jit in VARIANTS.items():
        ours[label] = _kerasopt(model, initial, loss, x, y, target, iterations, per_call, jit, repeats)
        print(f"  kerasopt ({label}): {ours[label]['seconds_to_target']:.2f} s, "
              f"{ours[label]['evaluations_to_target']} evaluations, {ours[label]['message']}", flush=True)
    for row in ours.values():
        row["time_ratio_total"] = row["seconds_to_target"] / scipy_total
        row["time_ratio_steady"] = row["steady_seconds_to_target"] / scipy_steady
    model.set_weights(initial)
    adam_steps, adam_loss = _adam_at_time(model, x, y, ours["XLA"]["steady_seconds_to_target"])
    return {
        "problem": name, "parameters": int(sum(np.prod(w.shape) for w in initial)), "samples": len(x),
        "repeats": repeats, "iterations_per_call": per_call,
        "scipy": {"iterations": scipy_nit, "evaluations_total": scipy_nfev, "target_loss": target,
                  "seconds_to_target": scipy_total, "steady_seconds_to_target": scipy_steady,
                  "evaluations_to_target": scipy_times[0][2] + 1, "all_runs": scipy_times},
        "kerasopt": ours,
        "adam_at_equal_steady_time": {"steps": adam_steps, "loss": adam_loss},
    }


def _markdown(results, info):
    lines = ["| problem | params | target loss (SciPy's) | SciPy L-BFGS-B: evals, s total (steady) | "
             "kerasopt L-BFGS | evals, s total (steady) | time ratio total | time ratio steady |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        s = r["scipy"]
        for label, k in r["kerasopt"].items():
            reached = "" if k["reached_target"] else " (target not reached)"
            lines.append(f"| {r['problem']} | {r['parameters']} | {s['target_loss']:.4g} "
                         f"| {s['evaluations_to_target']}, {s['seconds_to_target']:.2f} ({s['steady_seconds_to_target']:.2f}) "
                         f"| {label} | {k['evaluations_to_target']}, {k['seconds_to_target']:.2f} "
                         f"({k['steady_seconds_to_target']:.3f}){reached} "
                         f"| {k['time_ratio_total']:.2f}x | {k['time_ratio_steady']:.3f}x |")
    lines += ["", "| problem | Adam loss at kerasopt's steady XLA time |", "|---|---|"]
    lines += [f"| {r['problem']} | {r['adam_at_equal_steady_time']['loss']:.4g} "
              f"({r['adam_at_equal_steady_time']['steps']} steps) |" for r in results]
    lines += ["", "steady = without the one-time tf.function tracing and XLA compilation: SciPy's wall time "
              "after its first evaluation; kerasopt's iteration rate after its first compiled call, times the "
              "iterations to the target. kerasopt runs "
              f"{results[0]['iterations_per_call']} iterations per compiled call and is stopped after the "
              f"first call that reaches the target. Times: fastest of {results[0]['repeats']} runs per side."]
    lines += ["", f"Machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, TensorFlow "
              f"{info['tensorflow']}, Keras {info['keras']}, SciPy {info['scipy']}; 1-minute load average at the "
              f"start {info['load_average_at_start'][0]:.1f}."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mlp-iterations", type=int, default=300, help="SciPy's iteration budget on the MLP")
    parser.add_argument("--logistic-iterations", type=int, default=100)
    parser.add_argument("--per-call", type=int, default=10, help="kerasopt iterations per compiled call")
    parser.add_argument("--repeats", type=int, default=3, help="runs per side; the fastest counts")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    info = describe(scipy=scipy.__version__)
    cases = [("MLP 1-32-32-1, sin(3x)+x, 256 points", _mlp_problem, args.mlp_iterations),
             ("logistic regression, breast cancer (569 x 30)", _logistic_problem, args.logistic_iterations)]
    results = [_case(name, make, iterations, args.repeats, args.per_call) for name, make, iterations in cases]
    write_json(os.path.join(args.out, "lbfgs_vs_scipy.json"), {"results": results, "machine": info,
                                                               "command": vars(args)})
    table = _markdown(results, info)
    write_text(os.path.join(args.out, "lbfgs_vs_scipy.md"), table)
    print(table)


if __name__ == "__main__":
    main()
