"""The quick demo (the main job for now): a small classifier on scikit-learn's digits, built
with kerasopt initializers, trained, saved, reloaded and checked.

Hidden layers get He-scaled kernels (`kerasopt.initializers.he`, or `--init lsuv` for
`kerasopt.initializers.lsuv` on one minibatch); the output bias starts at the log class
frequencies (`PriorBias(prior_bias(y, "softmax"))`). A scale report of the initial model,
the trained model, and metrics.json are written to --out.

    python -m recipes.demo [--epochs 30] [--init he|lsuv] [--out saved_models/demo]
"""

import argparse
import time
from pathlib import Path

import numpy as np


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--init", choices=["he", "lsuv"], default="he", help="initialization of the kernels"
    )
    parser.add_argument("--out", type=Path, default=Path("saved_models/demo"))
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def build(y_train, seed):
    import keras

    from kerasopt import initializers

    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(
                128, activation="relu", kernel_initializer=initializers.he(seed=seed)
            ),
            keras.layers.Dense(
                64, activation="relu", kernel_initializer=initializers.he(seed=seed + 1)
            ),
            keras.layers.Dense(
                10,
                activation="softmax",
                kernel_initializer=initializers.glorot(seed=seed + 2),
                bias_initializer=initializers.PriorBias(
                    initializers.prior_bias(y_train, "softmax")
                ),
            ),
        ],
        name="digits_mlp",
    )


def main():
    args = parse_args()
    import keras

    from kerasopt import datasets, diagnostics, initializers, plotting
    from kerasopt._io import atomic_path, write_json

    keras.utils.set_random_seed(args.seed)
    start = time.time()
    x, y = datasets.digits()
    x_train, y_train, x_test, y_test = datasets.split(x.reshape(-1, 64) / 16.0, y, 0.2, args.seed)
    model = build(y_train, args.seed)
    model.compile(
        keras.optimizers.SGD(0.05, momentum=0.9),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    lsuv_report = (
        initializers.lsuv(model, x_train[:256], seed=args.seed) if args.init == "lsuv" else None
    )
    initial_loss = float(model.evaluate(x_train, y_train, verbose=0)[0])
    plotting.plot_scale_report(
        diagnostics.scale_report(model, x_train[:256], y_train[:256]),
        args.out / "scale_report_init.png",
        title=f"digits MLP at initialization ({args.init})",
    )
    history = model.fit(
        x_train, y_train, batch_size=32, epochs=args.epochs, validation_split=0.1, verbose=1
    )
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    plotting.plot_scale_report(
        diagnostics.scale_report(model, x_train[:256], y_train[:256]),
        args.out / "scale_report_trained.png",
        title="digits MLP after training",
    )

    path = args.out / "model.keras"
    with atomic_path(path) as tmp:
        model.save(tmp)
    reloaded = keras.models.load_model(path)
    identical = bool(
        np.array_equal(model.predict(x_test, verbose=0), reloaded.predict(x_test, verbose=0))
    )
    label_entropy = float(
        -np.sum(np.bincount(y_train) / len(y_train) * np.log(np.bincount(y_train) / len(y_train)))
    )
    metrics = {
        "init": args.init,
        "epochs": args.epochs,
        "initial_train_loss": initial_loss,
        "label_entropy": label_entropy,
        "final_train_loss": history.history["loss"][-1],
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
        "reloaded_predictions_identical": identical,
        "lsuv": lsuv_report,
        "seconds": time.time() - start,
    }
    write_json(args.out / "metrics.json", metrics)
    print(
        f"\nInitial loss {initial_loss:.3f} (entropy of the label prior {label_entropy:.3f}); "
        f"test accuracy {test_accuracy:.4f}; reloaded model predicts identically: {identical}"
    )
    print(
        f"Results in {args.out.resolve()}: model.keras, metrics.json, scale_report_init.png, scale_report_trained.png"
    )
    if not identical:
        raise SystemExit("the reloaded model's predictions differ from the trained model's")


if __name__ == "__main__":
    main()
