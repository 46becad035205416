"""Three claims of the course's "parameter initialization strategies", tested on real data.

(a) Constant initialization never breaks symmetry: hidden units stay identical after training.
(b) A 30-layer ReLU MLP trained with plain SGD + momentum: He-scaled weights train,
    Glorot-scaled weights stall (He et al. 2015, "Delving deep into rectifiers", fig. 3;
    there a 30-layer conv net on ImageNet, here an MLP on MNIST digits).
(c) Activation standard deviation across depth in a deep tanh net: Gaussian vs orthogonal
    weights with the same gain (Saxe et al. 2014; Pennington et al. 2017).

Each claim's pass criterion is fixed in the code below before running; the table says
whether it held. Writes table.md, table.json and PNGs to --out.

    python -m recipes.init_study [--dataset mnist|digits] [--out saved_models/init_study]
"""

import argparse
import math
import time
from pathlib import Path

import numpy as np

from kerasopt.cli._offline import find_assets, use_offline_keras_home  # noqa: E402

CHANCE = math.log(10.0)  # cross-entropy of the uniform prediction over 10 classes


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dataset",
        choices=["mnist", "digits"],
        default="mnist",
        help="mnist: the offline MNIST test set (10,000 images); digits: scikit-learn's 8x8 digits",
    )
    parser.add_argument("--out", type=Path, default=Path("saved_models/init_study"))
    parser.add_argument("--deep-epochs", type=int, default=15, help="epochs of experiment (b)")
    parser.add_argument(
        "--deep-width", type=int, default=128, help="hidden width of experiment (b)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--verbose", type=int, default=2, choices=[0, 1, 2], help="Keras fit verbosity"
    )
    return parser.parse_args()


def load_data(name, seed):
    from kerasopt import datasets

    if name == "mnist":
        assets = find_assets()
        if assets is None:
            raise SystemExit(
                "MNIST needs the offline assets (../shared/assets or $KERASOPT_ASSETS); try --dataset digits"
            )
        x, y = datasets.mnist_t10k(assets)
    else:
        x, y = datasets.digits()
    x = x.reshape(len(x), -1).astype("float32")
    x_train, y_train, x_test, y_test = datasets.split(x, y.astype("int64"), 0.2, seed)
    mean, std = x_train.mean(), x_train.std()
    return (x_train - mean) / std, y_train, (x_test - mean) / std, y_test


def mlp(inputs, widths, activation, kernel_initializer, name):
    import keras

    layers = [keras.Input((inputs,))]
    layers += [
        keras.layers.Dense(
            w, activation=activation, kernel_initializer=kernel_initializer, name=f"hidden{i + 1}"
        )
        for i, w in enumerate(widths)
    ]
    layers.append(
        keras.layers.Dense(
            10, activation="softmax", kernel_initializer=kernel_initializer, name="output"
        )
    )
    return keras.Sequential(layers, name=name)


def sgd_fit(model, data, epochs, lr, verbose, seed):
    import keras

    keras.utils.set_random_seed(seed)
    x_train, y_train, x_test, y_test = data
    model.compile(
        keras.optimizers.SGD(lr, momentum=0.9),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x_train,
        y_train,
        batch_size=64,
        epochs=epochs,
        validation_data=(x_test, y_test),
        verbose=verbose,
    )
    # NaN (a diverged run) is written as null: table.json stays strict JSON
    return {
        key: [v if np.isfinite(v) else None for v in values]
        for key, values in history.history.items()
    }


def distinct_units(kernel):
    """Number of distinct columns (incoming weight vectors) of a kernel, up to 1e-6 relative."""
    scale = max(float(np.abs(kernel).max()), 1e-30)
    return len({tuple(np.round(col / scale, 6)) for col in kernel.T})


def experiment_symmetry(data, args):
    import keras

    from kerasopt import initializers

    rows = {}
    for label, init in (
        ("constant 0.01", keras.initializers.Constant(0.01)),
        ("glorot (tanh gain)", initializers.glorot("tanh", seed=args.seed)),
    ):
        print(f"\n(a) MLP {data[0].shape[1]}-64-64-10 tanh, kernels: {label}")
        model = mlp(data[0].shape[1], [64, 64], "tanh", init, "symmetry")
        hist = sgd_fit(model, data, 5, 0.05, args.verbose, args.seed)
        rows[label] = {
            "distinct_units": [
                distinct_units(np.asarray(model.get_layer(f"hidden{i}").kernel)) for i in (1, 2)
            ],
            "test_accuracy": hist["val_accuracy"][-1],
        }
    const, rand = rows["constant 0.01"], rows["glorot (tanh gain)"]
    holds = const["distinct_units"] == [1, 1] and min(rand["distinct_units"]) == 64
    measured = (
        f"distinct hidden units per layer after 5 epochs: constant {const['distinct_units']}, "
        f"glorot {rand['distinct_units']} (of 64); test accuracy {const['test_accuracy']:.3f} vs {rand['test_accuracy']:.3f}"
    )
    return {
        "id": "a",
        "claim": "constant init leaves hidden units identical after training",
        "criterion": "constant: 1 distinct unit per hidden layer; random: all 64 distinct",
        "measured": measured,
        "reproduces": holds,
        "details": rows,
    }


def _trajectory(losses):
    """Where a training-loss curve left chance level, its best value, and when it became NaN."""
    losses = np.array([np.nan if v is None else v for v in losses], dtype="float64")
    below = np.flatnonzero(losses < 0.9 * CHANCE)
    nan = np.flatnonzero(~np.isfinite(losses))
    finite = losses[np.isfinite(losses)]
    return (
        f"first epoch below 0.9 ln 10: {below[0] + 1 if below.size else 'never'}, "
        f"best train loss {finite.min() if finite.size else float('nan'):.3f}, "
        f"non-finite from epoch {nan[0] + 1 if nan.size else 'never'}"
    )


def experiment_deep_relu(data, args):
    from kerasopt import diagnostics, initializers, plotting

    inits = {
        "He": initializers.he(distribution="untruncated_normal", seed=args.seed),
        "Glorot": initializers.glorot(distribution="untruncated_normal", seed=args.seed),
    }
    histories, reports = {}, {}
    for label, init in inits.items():
        print(
            f"\n(b) 30-layer ReLU MLP (width {args.deep_width}), SGD lr 0.01 momentum 0.9, kernels: {label}"
        )
        model = mlp(data[0].shape[1], [args.deep_width] * 29, "relu", init, f"deep_{label}")
        model.compile(loss="sparse_categorical_crossentropy")
        reports[label] = diagnostics.scale_report(model, data[0][:256], data[1][:256])
        histories[label] = sgd_fit(model, data, args.deep_epochs, 0.01, args.verbose, args.seed)
    fig, axes = plotting.new_figure(1, 2, figsize=(11, 4))
    for label, hist in histories.items():
        epochs = range(1, len(hist["loss"]) + 1)
        axes[0].plot(epochs, np.array(hist["loss"], dtype="float64"), "o-", label=f"{label} train")
        axes[0].plot(
            epochs, np.array(hist["val_loss"], dtype="float64"), "--", label=f"{label} test"
        )
        depth = range(1, len(reports[label]) + 1)
        axes[1].semilogy(
            depth, [r["std"] for r in reports[label]], "o-", label=f"{label}: activation std"
        )
        axes[1].semilogy(
            depth,
            [r["kernel_grad_std"] for r in reports[label]],
            "s--",
            label=f"{label}: kernel gradient std",
        )
    axes[0].axhline(CHANCE, color="gray", lw=0.8)
    axes[0].set(xlabel="epoch", ylabel="cross-entropy", title="30-layer ReLU MLP, SGD + momentum")
    axes[1].set(xlabel="layer", title="at initialization, one minibatch")
    for ax in axes:
        ax.legend(fontsize=8)
    plotting.save_figure(fig, args.out / "deep_relu.png")
    he, glorot = (
        np.nan if h["loss"][-1] is None else h["loss"][-1]
        for h in (histories["He"], histories["Glorot"])
    )
    holds = bool(he <= 0.5 * CHANCE and glorot >= 0.9 * CHANCE)
    measured = (
        f"train loss after {args.deep_epochs} epochs: He {he:.3f}, Glorot {glorot:.3f} (chance {CHANCE:.3f}); "
        f"test accuracy He {histories['He']['val_accuracy'][-1]:.3f}, Glorot {histories['Glorot']['val_accuracy'][-1]:.3f}; "
        + "; ".join(f"{label}: {_trajectory(hist['loss'])}" for label, hist in histories.items())
        + f"; last hidden activation std at init He {reports['He'][-2]['std']:.3g}, Glorot {reports['Glorot'][-2]['std']:.3g}"
    )
    return {
        "id": "b",
        "claim": "30-layer ReLU MLP, SGD+momentum: He trains, Glorot stalls (He et al. 2015 fig. 3)",
        "criterion": "He: final train loss <= 0.5 ln 10; Glorot: final train loss >= 0.9 ln 10",
        "measured": measured,
        "reproduces": holds,
        "details": {"histories": histories, "scale_reports": reports},
    }


def experiment_tanh_depth(data, args):
    from kerasopt import diagnostics, initializers, plotting

    depth, gain = 64, initializers.gain("tanh")
    inits = {
        "Gaussian, gain 1": initializers.lecun(
            "linear", distribution="untruncated_normal", seed=args.seed
        ),
        f"Gaussian, gain {gain:.3f}": initializers.lecun(
            "tanh", distribution="untruncated_normal", seed=args.seed
        ),
        f"orthogonal, gain {gain:.3f}": initializers.orthogonal("tanh", seed=args.seed),
    }
    reports, spread = {}, {}
    for label, init in inits.items():
        model = mlp(data[0].shape[1], [256] * depth, "tanh", init, "tanh_depth")
        model.compile(loss="sparse_categorical_crossentropy")
        reports[label] = diagnostics.scale_report(model, data[0][:512], data[1][:512])[
            :-1
        ]  # hidden layers
        acts = np.array([r["std"] for r in reports[label]])
        grads = np.array([r["grad_std"] for r in reports[label]])
        spread[label] = {
            "activation_std_first": acts[0],
            "activation_std_last": acts[-1],
            "activation_log_spread": float(np.abs(np.log(acts / acts[0])).max()),
            "grad_std_first": grads[0],
            "grad_std_last": grads[-1],
            "grad_log_spread": float(np.abs(np.log(grads / grads[-1])).max()),
        }
    fig, axes = plotting.new_figure(1, 2, figsize=(11, 4))
    for label, rep in reports.items():
        layers = range(1, len(rep) + 1)
        axes[0].plot(layers, [r["std"] for r in rep], label=label)
        axes[1].semilogy(layers, [r["grad_std"] for r in rep], label=label)
    axes[0].set(
        xlabel="hidden layer",
        ylabel="activation std",
        title=f"{depth}-layer tanh MLP at init, one minibatch",
        ylim=(0, None),
    )
    axes[1].set(xlabel="hidden layer", ylabel="std of d loss / d activation")
    for ax in axes:
        ax.legend(fontsize=8)
    plotting.save_figure(fig, args.out / "tanh_depth.png")
    ortho = spread[f"orthogonal, gain {gain:.3f}"]
    describe = "; ".join(
        f"{label}: activation std layer 1 -> {depth} {s['activation_std_first']:.3f} -> {s['activation_std_last']:.3f} "
        f"(max abs log ratio {s['activation_log_spread']:.3f}), gradient std ratio layer 1 / {depth} "
        f"{s['grad_std_first'] / s['grad_std_last']:.3g}"
        for label, s in spread.items()
    )
    rows = []
    for suffix, baseline, claim in (
        (
            "1",
            "Gaussian, gain 1",
            "deep tanh net: orthogonal-with-gain keeps activation std across depth, plain Gaussian (gain 1) does not",
        ),
        (
            "2",
            f"Gaussian, gain {gain:.3f}",
            "deep tanh net: at the same gain, orthogonal keeps activation std across depth better than Gaussian",
        ),
    ):
        holds = bool(
            ortho["activation_log_spread"] <= 0.5 * spread[baseline]["activation_log_spread"]
        )
        rows.append(
            {
                "id": "c" + suffix,
                "claim": claim,
                "criterion": f"max over layers of abs(log(std_l / std_1)) for orthogonal <= half that of {baseline}",
                "measured": describe,
                "reproduces": holds,
                "details": {"spread": spread},
            }
        )
    rows[0]["details"]["scale_reports"] = reports
    return rows


def write_table(results, args, seconds):
    from kerasopt._io import write_json, write_text

    lines = [
        "| | claim | pass criterion (fixed before running) | measured | reproduces |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| ({r['id']}) | {r['claim']} | {r['criterion']} | {r['measured']} | {'yes' if r['reproduces'] else '**no**'} |"
        for r in results
    ]
    lines.append("")
    lines.append(
        f"Data: {args.dataset}, seed {args.seed}; run time {seconds / 60:.1f} min. "
        f"Command: `python -m recipes.init_study --dataset {args.dataset} --deep-epochs {args.deep_epochs} "
        f"--deep-width {args.deep_width} --seed {args.seed}`"
    )
    write_text(args.out / "table.md", "\n".join(lines) + "\n")
    write_json(
        args.out / "table.json",
        {"dataset": args.dataset, "seed": args.seed, "seconds": seconds, "results": results},
    )


def main():
    args = parse_args()
    use_offline_keras_home(find_assets())
    import keras

    keras.utils.set_random_seed(args.seed)
    start = time.time()
    data = load_data(args.dataset, args.seed)
    results = [
        experiment_symmetry(data, args),
        experiment_deep_relu(data, args),
        *experiment_tanh_depth(data, args),
    ]
    write_table(results, args, time.time() - start)
    for r in results:
        print(
            f"({r['id']}) {r['claim']}: {'reproduces' if r['reproduces'] else 'DOES NOT reproduce'}\n    {r['measured']}"
        )
    print(f"\nTable and plots in {args.out.resolve()}")


if __name__ == "__main__":
    main()
