"""kerasopt L-BFGS against SciPy's L-BFGS-B driving the same Keras model, side by side.

    python -m benchmarks.lbfgs_vs_scipy [--mnist-iterations 100] [--smooth-iterations 300]
                                        [--mlp-iterations 300] [--logistic-iterations 100]
                                        [--per-call 10] [--repeats 3] [--dtype float64]
    python -m benchmarks.lbfgs_vs_scipy --quick --out /tmp/lbfgs   # smoke test

Full-batch training of problems where people do use L-BFGS: (a) an MLP 784-128-10 (ReLU,
softmax; 101,770 parameters) on the 10,000 images of the MNIST test set
(`kerasopt.datasets.mnist_t10k`), (b) a physics-style smooth regression, an MLP 2-64-64-1
(tanh, 4,353 parameters) fitting u(x, y) = sin(pi x) sin(pi y) + 0.5 exp(-x^2 - y^2) on a
64 x 64 grid, warm-started by 500 full-batch Adam steps and then refined by L-BFGS as PINN
users do; and, kept as honest small rows, (c) an MLP 1-32-32-1 (tanh) fitting sin(3x) + x
on 256 points and (d) logistic regression on scikit-learn's breast-cancer data
(standardized). SciPy's side is the usual workaround: the model's trainable weights flattened
into one float64 vector, a `tf.function` returning loss and gradient for a vector,
`scipy.optimize.minimize(..., method="L-BFGS-B", jac=True)`; that function is compiled both
as a plain graph and with XLA, and the faster SciPy run is the reference. Both start from the
same weights with memory 10; each side runs --repeats times (fastest counts, against CPU
contention).

Precision (--dtype, default float64): the models are built in that dtype, so every side
evaluates the same objective in it and kerasopt's and optax's L-BFGS algebra runs in it, as
SciPy's always does in float64. float32 is not a fair default for these targets: on the
MNIST MLP SciPy's final loss is about 5e-10, a mean of per-image cross-entropies of which
float32 rounds almost all to exactly 0 (log of a sum of exponentials that rounds to 1), so
the float32 loss there is a whole number of steps of 2^-23 / 10,000 and is flat or rising
along descent directions; which run first reaches such a target (XLA or a plain graph,
kerasopt or SciPy) is then a matter of rounding, not of the optimizer. `--dtype float32`
still runs the float32 comparison. The same holds in float64 a little later: between 100 and 150
iterations the MLP memorizes the images and the loss collapses to float64's rounding level
(SciPy's line search then stops), so the MNIST budget is 100 iterations, where the loss is
still orders of magnitude above either precision's rounding level. A row whose SciPy run
stops before its budget is flagged in the tables. SciPy runs its iteration budget; the target is the loss it reaches. kerasopt runs
`kerasopt.second_order.fit` with `compile(steps_per_execution=--per-call)` (that many
iterations per compiled call, the iteration loop in the graph; --realistic-per-call on the
two realistic problems), with XLA (`jit_compile=True`)
and without (plain graph); a callback stops it after the first call that reaches the target.
Reported: wall time and loss-and-gradient evaluations each side needs to first reach the
target, both end to end (tracing and compilation included) and in steady state, without the one-time graph construction (SciPy:
the time after its first evaluation, which traces its tf.function; kerasopt: the iteration
rate after its first call, which traces and, with XLA, compiles, times the iterations to the
target), and the lowest loss full-batch Keras Adam reaches in kerasopt's end-to-end XLA time
(XLA too, 10 steps per compiled call, its clock started before its tracing and compilation as
kerasopt's is; one run per rate of ADAM_RATES, the best rate kept).

The JAX column (a child process with KERAS_BACKEND=jax; --no-jax skips it): on the MNIST MLP
and the smooth regression, SciPy's L-BFGS-B with a `jax.jit` loss-and-gradient, kerasopt's
L-BFGS through `fit` and `optax.lbfgs` (memory 10, its zoom line search, `jax.jit`-compiled
calls), each end to end from the same weights to SciPy's final loss, with the evaluations
each needed. Results go to benchmarks/results/lbfgs_vs_scipy.{json,md} with a machine
description, the commit and the command.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import keras
import numpy as np
import scipy.optimize
from sklearn.datasets import load_breast_cancer

import kerasopt
from benchmarks._machine import describe, load_note, provenance
from kerasopt import datasets
from kerasopt._backend import tf
from kerasopt._io import write_json, write_text
from kerasopt.cli._offline import find_assets
from kerasopt.second_order import LBFGS, fit


def _mnist_problem(samples=None):
    images, labels = datasets.mnist_t10k(find_assets())
    x = (images[:samples].reshape(-1, 784) / 255.0).astype(keras.config.floatx())
    y = labels[:samples].astype("int32")
    model = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    return model, x, y, "sparse_categorical_crossentropy"


def _smooth_problem(adam_steps=500):
    """A smooth 2-D target on a 64 x 64 grid, an MLP warm-started by full-batch Adam (the Adam
    phase is common to both sides and not timed)."""
    grid = np.linspace(-1.0, 1.0, 64, dtype=keras.config.floatx())
    xx, yy = np.meshgrid(grid, grid)
    x = np.stack([xx.ravel(), yy.ravel()], axis=1)
    y = np.sin(np.pi * x[:, :1]) * np.sin(np.pi * x[:, 1:]) + 0.5 * np.exp(
        -(x**2).sum(1, keepdims=True)
    )
    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(64, activation="tanh"),
            keras.layers.Dense(64, activation="tanh"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(x, y, batch_size=len(x), epochs=adam_steps, verbose=0)
    return model, x, y, "mse"


def _mlp_problem():
    x = np.linspace(-2.0, 2.0, 256, dtype=keras.config.floatx())[:, None]
    y = np.sin(3.0 * x) + x
    model = keras.Sequential(
        [
            keras.Input((1,)),
            keras.layers.Dense(32, activation="tanh"),
            keras.layers.Dense(32, activation="tanh"),
            keras.layers.Dense(1),
        ]
    )
    return model, x, y, "mse"


def _logistic_problem():
    data = load_breast_cancer()
    x = ((data.data - data.data.mean(0)) / data.data.std(0)).astype(keras.config.floatx())
    y = data.target.astype(keras.config.floatx())[:, None]
    model = keras.Sequential(
        [keras.Input((x.shape[1],)), keras.layers.Dense(1, activation="sigmoid")]
    )
    return model, x, y, "binary_crossentropy"


def _scipy_lbfgsb(model, x, y, iterations, jit_compile):
    """SciPy L-BFGS-B on the flattened weights, its objective a `tf.function` (with XLA when
    `jit_compile`); returns per-evaluation (seconds, loss) from the start (tracing included),
    nfev, nit and SciPy's message."""
    start = time.perf_counter()
    variables = model.trainable_variables
    shapes = [tuple(v.shape) for v in variables]
    sizes = [int(np.prod(s)) for s in shapes]
    loss_fn = kerasopt.diagnostics.model_loss_fn(model, tf.constant(x), tf.constant(y))

    @tf.function(jit_compile=jit_compile)
    def value_and_grad(flat):
        for v, part, shape in zip(variables, tf.split(flat, sizes), shapes, strict=True):
            v.assign(tf.reshape(part, shape))
        with tf.GradientTape() as tape:
            loss = loss_fn()
        return loss, tf.concat([tf.reshape(g, [-1]) for g in tape.gradient(loss, variables)], 0)

    x0 = np.concatenate([v.numpy().ravel() for v in variables])
    log = []

    def f(w):
        loss, grad = value_and_grad(tf.constant(w, variables[0].dtype))
        log.append((time.perf_counter() - start, float(loss)))
        return float(loss), grad.numpy().astype(np.float64)

    result = scipy.optimize.minimize(
        f,
        x0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": iterations, "maxcor": 10, "ftol": 0.0, "gtol": 0.0},
    )
    return log, result.nfev, result.nit, str(result.message)


class _Clock(keras.callbacks.Callback):
    """Records (seconds, loss, evaluations) per compiled call (an epoch); stops at the target loss."""

    def __init__(self, target=None):
        super().__init__()
        self.target, self.log = target, []

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.log.append(
            (
                time.perf_counter() - self.start,
                logs["loss"],
                logs["evaluations"],
                logs["iterations"],
            )
        )
        if self.target is not None and logs["loss"] <= self.target:
            self.model.stop_training = True


ADAM_RATES = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)


def _adam_at_time(model, x, y, seconds, steps_per_call=10):
    """Full-batch Adam with XLA (`jit_compile=True`), its clock started where kerasopt's
    end-to-end clock starts (before tracing and compilation), stopped after `seconds`; one run
    per rate of `ADAM_RATES` from the same weights, the lowest final training loss kept.
    Returns {"rate", "steps", "loss", "by_rate"}."""
    initial = model.get_weights()
    variables = model.trainable_variables
    by_rate = {}
    for rate in ADAM_RATES:
        model.set_weights(initial)
        start = time.perf_counter()
        optimizer = keras.optimizers.Adam(rate)
        optimizer.build(variables)
        loss_fn = kerasopt.diagnostics.model_loss_fn(model, tf.constant(x), tf.constant(y))

        @tf.function(jit_compile=True)
        def steps(optimizer=optimizer, loss_fn=loss_fn):
            for _ in tf.range(steps_per_call):
                with tf.GradientTape() as tape:
                    loss = loss_fn()
                grads = tape.gradient(loss, variables)
                optimizer.apply_gradients(zip(grads, variables, strict=True))
            return loss_fn()

        count, loss = 0, float("nan")
        while time.perf_counter() - start < seconds:
            loss = float(steps())
            count += steps_per_call
        by_rate[rate] = {"steps": count, "loss": loss}
    model.set_weights(initial)
    finite = {r: v for r, v in by_rate.items() if np.isfinite(v["loss"])}
    rate = min(finite, key=lambda r: finite[r]["loss"])
    return {"rate": rate, **by_rate[rate], "by_rate": {str(r): v for r, v in by_rate.items()}}


def _first_reach(log, target):
    return next(((i, entry) for i, entry in enumerate(log) if entry[1] <= target), (None, None))


def _kerasopt(
    model, initial, loss, x, y, target, iterations, per_call, jit_compile, repeats, budget=3
):
    """Fastest of `repeats` runs of `fit` stopped at the first call reaching `target`."""
    runs = []
    for _ in range(repeats):
        model.set_weights(initial)
        model.compile(
            optimizer=LBFGS(gtol=0.0, ftol=0.0),
            loss=loss,
            steps_per_execution=per_call,
            jit_compile=jit_compile,
        )
        clock = _Clock(target)
        history = fit(model, x, y, max_iterations=budget * iterations, callbacks=[clock], verbose=0)
        _, hit = _first_reach(clock.log, target)
        last = hit or clock.log[-1]
        first_seconds, first_iterations = clock.log[0][0], clock.log[0][3]
        # Steady state: the iteration rate after the first call (which traces and compiles),
        # applied to every iteration up to the target.
        steady = (
            (last[0] - first_seconds) / (last[3] - first_iterations) * last[3]
            if last[3] > first_iterations
            else None
        )
        runs.append(
            {
                "reached_target": hit is not None,
                "seconds_to_target": last[0],
                "steady_seconds_to_target": steady,
                "first_call_seconds": first_seconds,
                "evaluations_to_target": int(last[2]),
                "iterations_to_target": int(last[3]),
                "final_loss": clock.log[-1][1],
                "message": history.convergence.message,
            }
        )
    if any(r["steady_seconds_to_target"] is None for r in runs):
        raise SystemExit(
            f"kerasopt reached the target within its first call of {per_call} iterations: "
            "lower --per-call to measure a steady-state rate"
        )
    best = min(runs, key=lambda r: r["seconds_to_target"])
    return best | {
        "steady_seconds_to_target": min(r["steady_seconds_to_target"] for r in runs),
        "all_runs": [(r["seconds_to_target"], r["steady_seconds_to_target"]) for r in runs],
    }


VARIANTS = {"XLA": True, "graph": False}


def _row(name, initial, x, repeats, per_call):
    """What every result row starts with: the problem and how it was run."""
    return {
        "problem": name,
        "parameters": int(sum(np.prod(w.shape) for w in initial)),
        "samples": len(x),
        "repeats": repeats,
        "iterations_per_call": per_call,
        "dtype": keras.config.floatx(),
    }


def _case(name, make, iterations, repeats, per_call):
    """Each side runs `repeats` times from the same weights; the fastest run counts."""
    keras.utils.set_random_seed(0)
    model, x, y, loss = make()
    model.compile(optimizer=LBFGS(), loss=loss)  # SciPy's side uses the compiled loss
    initial = [w.copy() for w in model.get_weights()]

    scipy_runs = {}
    for label, jit in VARIANTS.items():
        scipy_runs[label] = []
        for _ in range(repeats):
            model.set_weights(initial)
            scipy_runs[label].append(_scipy_lbfgsb(model, x, y, iterations, jit))
    # The target: the loss SciPy's first (graph) run reaches; every SciPy run's time to it.
    target = min(entry[1] for entry in scipy_runs["graph"][0][0])
    scipy_by_variant = {}
    for label, runs in scipy_runs.items():
        times = []
        for log, *_ in runs:
            index, hit = _first_reach(log, target)
            if hit is not None:
                times.append((hit[0], hit[0] - log[0][0], index))
        scipy_by_variant[label] = {
            "seconds_to_target": min(t[0] for t in times) if times else None,
            "steady_seconds_to_target": min(t[1] for t in times) if times else None,
            "evaluations_to_target": times[0][2] + 1 if times else None,
            "all_runs": times,
        }
    reached = {k: v for k, v in scipy_by_variant.items() if v["seconds_to_target"] is not None}
    scipy_label = min(reached, key=lambda k: reached[k]["seconds_to_target"])
    scipy_best = reached[scipy_label]
    scipy_total, scipy_steady = (
        scipy_best["seconds_to_target"],
        min(v["steady_seconds_to_target"] for v in reached.values()),
    )
    _, scipy_nfev, scipy_nit, scipy_message = scipy_runs["graph"][0]

    print(
        f"{name}: SciPy ({scipy_label}, the faster) {scipy_total:.2f} s to loss {target:.4g} in "
        f"{scipy_best['evaluations_to_target']} evaluations; "
        + ", ".join(f"{k} {v['seconds_to_target']}" for k, v in scipy_by_variant.items()),
        flush=True,
    )
    ours = {}
    for label, jit in VARIANTS.items():
        ours[label] = _kerasopt(
            model, initial, loss, x, y, target, iterations, per_call, jit, repeats
        )
        print(
            f"  kerasopt ({label}): {ours[label]['seconds_to_target']:.2f} s, "
            f"{ours[label]['evaluations_to_target']} evaluations, {ours[label]['message']}",
            flush=True,
        )
    for row in ours.values():
        row["time_ratio_total"] = row["seconds_to_target"] / scipy_total
        row["time_ratio_steady"] = row["steady_seconds_to_target"] / scipy_steady
    model.set_weights(initial)
    adam = _adam_at_time(model, x, y, ours["XLA"]["seconds_to_target"])
    return _row(name, initial, x, repeats, per_call) | {
        "scipy": {
            "iterations": scipy_nit,
            "iteration_budget": iterations,
            "message": scipy_message,
            "evaluations_total": scipy_nfev,
            "target_loss": target,
            "objective_compilation": scipy_label,
            "seconds_to_target": scipy_total,
            "steady_seconds_to_target": scipy_steady,
            "evaluations_to_target": scipy_best["evaluations_to_target"],
            "by_compilation": scipy_by_variant,
        },
        "kerasopt": ours,
        "adam_at_equal_end_to_end_time": adam,
    }


# --- The JAX column: kerasopt L-BFGS on JAX, optax.lbfgs and SciPy (KERAS_BACKEND=jax) -------


def _jax_objective(model, initial, x, y):
    """The model's compiled loss as a pure function of its flat weights on JAX, its inputs and
    the starting weights (the one objective all three JAX-side runs use)."""
    from keras import ops

    from kerasopt.second_order.fit import model_objective

    model.set_weights(initial)
    data = (ops.convert_to_tensor(x), ops.convert_to_tensor(y), None)
    objective, w0 = model_objective(model, data)
    return objective.loss, objective.inputs(), w0


def _scipy_jax(model, initial, x, y, iterations):
    """SciPy L-BFGS-B with a `jax.jit` loss-and-gradient; per-evaluation (seconds, loss) from
    the start (compilation included), nfev, nit and SciPy's message."""
    import jax
    import jax.numpy as jnp

    start = time.perf_counter()
    loss, inputs, w0 = _jax_objective(model, initial, x, y)
    value_and_grad = jax.jit(jax.value_and_grad(loss))
    log = []

    def f(w):
        value, grad = value_and_grad(jnp.asarray(w, w0.dtype), inputs)
        log.append((time.perf_counter() - start, float(value)))
        return float(value), np.asarray(grad, np.float64)

    result = scipy.optimize.minimize(
        f,
        w0.astype(np.float64),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": iterations, "maxcor": 10, "ftol": 0.0, "gtol": 0.0},
    )
    return log, result.nfev, result.nit, str(result.message)


def _optax_lbfgs(model, initial, x, y, target, max_iterations, per_call):
    """optax.lbfgs (memory 10, its default zoom line search) in `jax.jit`-compiled calls of
    `per_call` iterations, stopped after the first call at or below `target`. Evaluations: the
    first value-and-gradient plus every line-search trial (`num_linesearch_steps`)."""
    import jax
    import jax.numpy as jnp
    import optax

    start = time.perf_counter()
    loss, inputs, w0 = _jax_objective(model, initial, x, y)
    solver = optax.lbfgs(memory_size=10)

    @jax.jit
    def calls(params, state, inputs):
        fun = lambda w: loss(w, inputs)  # noqa: E731
        value_and_grad = optax.value_and_grad_from_state(fun)

        def body(carry):
            i, evaluations, params, state = carry
            value, grad = value_and_grad(params, state=state)
            updates, state = solver.update(
                grad, state, params, value=value, grad=grad, value_fn=fun
            )
            steps = optax.tree_utils.tree_get(state, "num_linesearch_steps")
            return i + 1, evaluations + steps, optax.apply_updates(params, updates), state

        _, evaluations, params, state = jax.lax.while_loop(
            lambda c: c[0] < per_call, body, (0, 0, params, state)
        )
        return params, state, evaluations

    params = jnp.asarray(w0)
    state = solver.init(params)
    evaluations, iterations, value = 1, 0, float("inf")
    while iterations < max_iterations:
        params, state, spent = calls(params, state, inputs)
        iterations += per_call
        evaluations += int(spent)
        value = float(optax.tree_utils.tree_get(state, "value"))
        if value <= target:
            break
    return {
        "reached_target": value <= target,
        "seconds_to_target": time.perf_counter() - start,
        "evaluations_to_target": evaluations,
        "iterations_to_target": iterations,
        "final_loss": value,
    }


def _jax_case(name, make, iterations, repeats, per_call):
    """SciPy (jax.jit objective), kerasopt L-BFGS on JAX and optax.lbfgs from the same weights,
    each end to end (compilation included) to SciPy's final loss; fastest of `repeats` runs."""
    import optax

    keras.utils.set_random_seed(0)
    model, x, y, loss = make()
    model.compile(optimizer=LBFGS(), loss=loss)
    initial = [w.copy() for w in model.get_weights()]
    scipy_runs = [_scipy_jax(model, initial, x, y, iterations) for _ in range(repeats)]
    target = min(entry[1] for entry in scipy_runs[0][0])
    hits = [_first_reach(log, target) for log, *_ in scipy_runs]
    scipy_side = {
        "target_loss": target,
        "iterations": scipy_runs[0][2],
        "iteration_budget": iterations,
        "message": scipy_runs[0][3],
        "evaluations_total": scipy_runs[0][1],
        "evaluations_to_target": hits[0][0] + 1,
        "seconds_to_target": min(hit[1][0] for hit in hits if hit[1] is not None),
    }
    ours = _kerasopt(model, initial, loss, x, y, target, iterations, per_call, True, repeats)
    theirs = min(
        (
            _optax_lbfgs(model, initial, x, y, target, 3 * iterations, per_call)
            for _ in range(repeats)
        ),
        key=lambda r: r["seconds_to_target"],
    )
    print(
        f"{name} (JAX): SciPy {scipy_side['seconds_to_target']:.2f} s, "
        f"{scipy_side['evaluations_to_target']} evaluations to {target:.4g}; kerasopt "
        f"{ours['seconds_to_target']:.2f} s, {ours['evaluations_to_target']}; optax "
        f"{theirs['seconds_to_target']:.2f} s, {theirs['evaluations_to_target']}",
        flush=True,
    )
    return _row(name, initial, x, repeats, per_call) | {
        "optax_version": optax.__version__,
        "scipy": scipy_side,
        "kerasopt": ours,
        "optax": theirs,
        "kerasopt_time_over_optax": ours["seconds_to_target"] / theirs["seconds_to_target"],
        "kerasopt_evaluations_over_scipy": ours["evaluations_to_target"]
        / scipy_side["evaluations_to_target"],
    }


def _jax_markdown(results):
    lines = [
        "",
        "JAX column (KERAS_BACKEND=jax, every side compiled by jax.jit, end to end from the "
        f"same weights to SciPy's final loss, compilation included; {results[0]['dtype']} "
        "on every side):",
        "",
        "| problem | params | target loss (SciPy's) | SciPy L-BFGS-B: evals, s | kerasopt L-BFGS: "
        "evals, s | optax.lbfgs: evals, s | kerasopt evals / SciPy | kerasopt time / optax |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s, k, o = r["scipy"], r["kerasopt"], r["optax"]
        miss = {True: "", False: " (target not reached)"}
        lines.append(
            f"| {r['problem']} | {r['parameters']} | {s['target_loss']:.4g} "
            f"| {s['evaluations_to_target']}, {s['seconds_to_target']:.2f} "
            f"| {k['evaluations_to_target']}, {k['seconds_to_target']:.2f}{miss[k['reached_target']]} "
            f"| {o['evaluations_to_target']}, {o['seconds_to_target']:.2f}{miss[o['reached_target']]} "
            f"| {r['kerasopt_evaluations_over_scipy']:.2f} | {r['kerasopt_time_over_optax']:.2f}x |"
        )
    return lines + _early_stops(results)


def _early_stops(results):
    """A note for each row whose SciPy run stopped before its iteration budget: its line
    search found no decrease, so its final loss (the target) is at the loss's rounding level,
    where the evaluations any run needs to first reach it measure rounding, not the method."""
    return [
        f"\nSciPy stopped at iteration {r['scipy']['iterations']} of its budget of "
        f"{r['scipy']['iteration_budget']} on {r['problem']} ({r['scipy']['message']}): the target "
        "is at the loss's rounding level, so this row's evaluations to it measure rounding."
        for r in results
        if r["scipy"]["iterations"] < r["scipy"]["iteration_budget"]
    ]


def _jax_column(args):
    """Run the JAX column in a child process (the backend is fixed per process); its rows.
    With --jax-json, the rows a separately started child writes there (waited for)."""
    if args.jax_json:
        while not os.path.exists(args.jax_json):
            time.sleep(5)
        with open(args.jax_json) as f:
            return json.load(f)
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "jax.json")
        command = [sys.executable, "-m", "benchmarks.lbfgs_vs_scipy", "--jax-column", out]
        command += [f"--repeats={args.repeats}", f"--realistic-per-call={args.realistic_per_call}"]
        command += [f"--mnist-iterations={args.mnist_iterations}"]
        command += [f"--smooth-iterations={args.smooth_iterations}", f"--dtype={args.dtype}"]
        command += ["--quick"] if args.quick else []
        subprocess.run(command, check=True, env=os.environ | {"KERAS_BACKEND": "jax"})
        with open(out) as f:
            return json.load(f)


def _write_jax_only(args, info):
    """--jax-only: the JAX column alone, to lbfgs_vs_scipy_jax.{json,md}."""
    rows = _jax_column(args)
    load = load_note(info)
    write_json(
        os.path.join(args.out, "lbfgs_vs_scipy_jax.json"),
        {
            "jax": rows,
            "machine": info,
            "load": load,
            "headline": {
                f"{r['problem'].split(',')[0]} on JAX: end-to-end time / optax.lbfgs": r[
                    "kerasopt_time_over_optax"
                ]
                for r in rows
            },
        },
    )
    lines = _jax_markdown(rows)[1:] + [
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, Keras "
        f"{info['keras']}, SciPy {info['scipy']}, optax {rows[0]['optax_version']}; {load}",
        "",
        provenance(info),
    ]
    text = "\n".join(lines) + "\n"
    write_text(os.path.join(args.out, "lbfgs_vs_scipy_jax.md"), text)
    print(text)


def _markdown(results, info, load):
    lines = [
        "| problem | params | samples | target loss (SciPy's) | SciPy L-BFGS-B (faster objective): evals, "
        "s end to end (steady) | kerasopt L-BFGS | evals, s end to end (steady) | time ratio end to end "
        "| time ratio steady |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = r["scipy"]
        for label, k in r["kerasopt"].items():
            reached = "" if k["reached_target"] else " (target not reached)"
            lines.append(
                f"| {r['problem']} | {r['parameters']} | {r['samples']} | {s['target_loss']:.4g} "
                f"| {s['evaluations_to_target']}, {s['seconds_to_target']:.2f} ({s['steady_seconds_to_target']:.2f}), "
                f"{s['objective_compilation']} "
                f"| {label} | {k['evaluations_to_target']}, {k['seconds_to_target']:.2f} "
                f"({k['steady_seconds_to_target']:.3f}){reached} "
                f"| {k['time_ratio_total']:.2f}x | {k['time_ratio_steady']:.3f}x |"
            )
    lines += [
        "",
        "| problem | target loss (SciPy's) | Adam (XLA, best of rates "
        + ", ".join(f"{r:g}" for r in ADAM_RATES)
        + ") loss at kerasopt's end-to-end XLA time | its rate, steps |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['problem']} | {r['scipy']['target_loss']:.4g} "
        f"| {r['adam_at_equal_end_to_end_time']['loss']:.4g} "
        f"| {r['adam_at_equal_end_to_end_time']['rate']:g}, "
        f"{r['adam_at_equal_end_to_end_time']['steps']} |"
        for r in results
    ]
    lines += [
        "",
        "| problem | SciPy's objective as a plain graph: s end to end | with XLA |",
        "|---|---|---|",
    ]
    lines += [
        f"| {r['problem']} | {_seconds(r['scipy']['by_compilation']['graph'])} | "
        f"{_seconds(r['scipy']['by_compilation']['XLA'])} |"
        for r in results
    ]
    lines += [
        "",
        "end to end = from the start of the run, tracing and compilation included, to the first "
        "evaluation (SciPy) or compiled call (kerasopt) at or below the target. "
        "steady = without the one-time tf.function tracing and XLA compilation: SciPy's wall time "
        "after its first evaluation; kerasopt's iteration rate after its first compiled call, times the "
        "iterations to the target. kerasopt runs "
        + ", ".join(f"{r['iterations_per_call']} ({r['problem'].split(',')[0]})" for r in results)
        + " iterations per compiled call and is stopped after the first call that reaches the target "
        f"(the evaluations of that whole call count). Times: fastest of {results[0]['repeats']} runs per side.",
    ]
    lines += _early_stops(results)
    lines += [
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, TensorFlow "
        f"{info['tensorflow']}, Keras {info['keras']}, SciPy {info['scipy']}; {load} Models, "
        f"objectives and optimizers in {results[0]['dtype']} on every side.",
    ]
    return "\n".join(lines) + "\n"


def _seconds(entry):
    return (
        "not reached" if entry["seconds_to_target"] is None else f"{entry['seconds_to_target']:.2f}"
    )


def _set_precision(dtype):
    """Every model, dataset and optimizer of the run in `dtype` (JAX: float64 needs x64)."""
    if dtype == "float64" and keras.backend.backend() == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
    keras.config.set_floatx(dtype)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--mnist-iterations",
        type=int,
        default=100,
        help="SciPy's iteration budget on the MNIST MLP (between 100 and 150 iterations the MLP "
        "memorizes the 10,000 images and the loss falls to its rounding level, where SciPy's "
        "line search stops)",
    )
    parser.add_argument(
        "--smooth-iterations",
        type=int,
        default=300,
        help="SciPy's iteration budget on the smooth regression",
    )
    parser.add_argument(
        "--mlp-iterations", type=int, default=300, help="SciPy's iteration budget on the small MLP"
    )
    parser.add_argument("--logistic-iterations", type=int, default=100)
    parser.add_argument(
        "--per-call",
        type=int,
        default=10,
        help="kerasopt iterations per compiled call on the small problems",
    )
    parser.add_argument(
        "--realistic-per-call",
        type=int,
        default=1,
        help="kerasopt iterations per compiled call on the MNIST and smooth-regression problems, "
        "where one evaluation costs far more than a call (finer stop at the target)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per side; the fastest counts")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1 repeat, a tenth of every iteration budget, 2,000 MNIST images",
    )
    parser.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="the models' dtype, hence every side's precision (objective and optimizer "
        "algebra; SciPy's L-BFGS-B always does its own algebra in float64)",
    )
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--no-jax", action="store_true", help="skip the JAX column")
    parser.add_argument(
        "--jax-only",
        action="store_true",
        help="only the JAX column, to lbfgs_vs_scipy_jax.{json,md}",
    )
    parser.add_argument("--jax-column", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--jax-json",
        default=None,
        help="read the JAX column from this file, written by `KERAS_BACKEND=jax python -m "
        "benchmarks.lbfgs_vs_scipy --jax-column FILE` started alongside (waits for it)",
    )
    args = parser.parse_args(argv)
    _set_precision(args.dtype)
    if args.quick:
        args.repeats = 1
        for name in (
            "mnist_iterations",
            "smooth_iterations",
            "mlp_iterations",
            "logistic_iterations",
        ):
            setattr(args, name, max(20, getattr(args, name) // 10))
    cases = [
        (
            "MLP 784-128-10, MNIST test set" + (" (first 2,000)" if args.quick else ""),
            (lambda: _mnist_problem(2000)) if args.quick else _mnist_problem,
            args.mnist_iterations,
            args.realistic_per_call,
        ),
        (
            "smooth 2-D regression after 500 Adam steps, MLP 2-64-64-1",
            _smooth_problem,
            args.smooth_iterations,
            args.realistic_per_call,
        ),
        ("MLP 1-32-32-1, sin(3x)+x, 256 points", _mlp_problem, args.mlp_iterations, args.per_call),
        (
            "logistic regression, breast cancer (569 x 30)",
            _logistic_problem,
            args.logistic_iterations,
            args.per_call,
        ),
    ]
    if args.jax_column:  # the child process of `_jax_column`: the two realistic problems
        rows = [_jax_case(*case[:2], case[2], args.repeats, case[3]) for case in cases[:2]]
        write_json(args.jax_column, rows)
        return
    info = describe(scipy=scipy.__version__)
    if args.jax_only:
        _write_jax_only(args, info)
        return
    results = [
        _case(name, make, iterations, args.repeats, per_call)
        for name, make, iterations, per_call in cases
    ]
    jax_rows = [] if args.no_jax else _jax_column(args)
    load = load_note(info)
    write_json(
        os.path.join(args.out, "lbfgs_vs_scipy.json"),
        {
            "results": results,
            "jax": jax_rows,
            "machine": info,
            "load": load,
            "arguments": vars(args),
            "headline": {
                f"{r['problem'].split(',')[0]}: end-to-end time / SciPy (best of graph, XLA)": min(
                    (
                        mode["time_ratio_total"]
                        for mode in r["kerasopt"].values()
                        if mode.get("time_ratio_total") is not None
                    ),
                    default="target not reached",
                )
                for r in results
            }
            | {
                f"{r['problem'].split(',')[0]} on JAX: end-to-end time / optax.lbfgs": r[
                    "kerasopt_time_over_optax"
                ]
                for r in jax_rows
            },
        },
    )
    table = _markdown(results, info, load)
    if jax_rows:
        table += "\n".join(_jax_markdown(jax_rows)) + "\n"
    table += f"\n{provenance(info)}\n"
    write_text(os.path.join(args.out, "lbfgs_vs_scipy.md"), table)
    print(table)


if __name__ == "__main__":
    main()
