"""`fit(model, x, y, ...)`: full-batch second-order training of a compiled Keras model.

TensorFlow and JAX backends (a `tf.data.Dataset` on TensorFlow only). Keras' `model.fit` is
minibatch-only and never shows the optimizer the loss; this loop does. The model must be compiled with one of the kerasopt second-order
optimizers (`LBFGS`, `BFGS`, `ConjugateGradient`, `Newton`, `SaddleFreeNewton`). The loss
is the compiled loss (`kerasopt.diagnostics.model_loss_fn`, regularization losses included)
over all of `x, y` in memory, or over every batch of a finite `tf.data.Dataset` (batches
weighted by their size, which gives exactly the full-batch mean). It is evaluated in
inference mode (`training=False`), so every evaluation of one iteration's line search sees
the same deterministic function: dropout is inactive and BatchNormalization uses its moving
statistics.

One iteration is reported to Keras callbacks as one epoch of one step, so `History`,
`EarlyStopping`, `ModelCheckpoint`, `CSVLogger`, `TensorBoard` and the progress bar work
unchanged. Logs carry `loss`, the compiled metrics (from `model.evaluate` on the training
data), `gradient_norm` (infinity norm), `evaluations` (cumulative loss-and-gradient
evaluations), `iterations` (cumulative) and, with `validation_data`, the `val_` entries. The
returned History also has a `convergence` attribute: the `OptimizeResult` (converged,
message, iterations, evaluations).

The model's compile settings apply as in `model.fit`: `steps_per_execution=K` runs up to K
iterations in one compiled call (the iteration loop and its stop tests run inside the graph;
as with Keras' own `steps_per_execution`, callbacks then fire once per call, which is
reported as one epoch carrying the logs of its last iteration, so `History` has one entry per
call and `max_iterations` still counts iterations), and `jit_compile=True` compiles that call
with XLA (in-memory data only; a `tf.data.Dataset` objective always runs as a plain graph;
on JAX every call is compiled by `jax.jit`).

Compiled functions are cached on the optimizer per model, compiled loss and trainable
variables, with the data as arguments: a second `fit` with data of the same shapes (or the
same dataset structure) reuses them without retracing. What a second `fit` does NOT reuse is
the curvature: every `fit` starts from fresh curvature state (an empty L-BFGS history, the
identity as BFGS matrix, CG's steepest-descent restart, Newton's initial damping), like a new
`scipy.optimize.minimize` call, and that state is not part of `model.save` either (only the
weights, the optimizer's configuration and its `iterations` counter are saved). So a second
`fit`, or a `fit` after `load_model`, continues from the weights but takes the same first
step as a fresh optimizer would.
"""

import keras
import numpy as np
from keras import ops

from kerasopt import diagnostics
from kerasopt._validation import check_choice, check_int
from kerasopt.second_order import _ops
from kerasopt.second_order._core import (
    Layout,
    Objective,
    SecondOrderOptimizer,
    check_bounds,
    require_backend,
    run,
)


def model_objective(model, data=(), dataset=None):
    """The compiled loss of `model` (`kerasopt.diagnostics.model_loss_fn`, regularization
    included, inference mode) as an `Objective` of its flat trainable weights.

    The loss runs statelessly (`keras.StatelessScope`, Keras' own JAX trainer's way): the
    trainable weights take their values from x and the non-trainable ones from the data
    passed in (`extra`), so a compiled trace never holds a stale weight. `publish` assigns
    a point to the model's weights."""
    trainable, frozen = list(model.trainable_variables), list(model.non_trainable_variables)
    layout = Layout([v.shape for v in trainable])
    dtypes = {keras.backend.standardize_dtype(v.dtype) for v in trainable}
    if len(dtypes) > 1:
        raise ValueError(
            "All trainable variables must share one dtype for a flat parameter vector. "
            f"Received: dtypes={sorted(dtypes)}"
        )

    def loss(x, batch):
        element, frozen_values = batch
        mapping = list(zip(trainable, layout.unflatten(x), strict=True))
        mapping += list(zip(frozen, frozen_values, strict=True))
        with keras.StatelessScope(state_mapping=mapping):
            xb, yb, swb = keras.utils.unpack_x_y_sample_weight(element)
            return diagnostics.model_loss_fn(model, xb, yb, swb)()

    def publish(x):
        for v, part in zip(trainable, layout.unflatten(np.asarray(x), np.reshape), strict=True):
            v.assign(part)

    objective = Objective(
        loss,
        layout.size,
        dtypes.pop() if dtypes else "float32",
        data=data,
        dataset=dataset,
        extra=[ops.convert_to_tensor(v) for v in frozen],
        publish=publish,
    )
    return objective, np.concatenate([np.ravel(ops.convert_to_numpy(v)) for v in trainable])


def _evaluate(model, data, prefix):
    if _ops.is_dataset(data):
        logs = model.evaluate(data, verbose=0, return_dict=True)
    else:
        xv, yv, swv = keras.utils.unpack_x_y_sample_weight(tuple(data))
        logs = model.evaluate(xv, yv, sample_weight=swv, verbose=0, return_dict=True)
    return {prefix + k: float(v) for k, v in logs.items()}


def fit(
    model,
    x=None,
    y=None,
    max_iterations=100,
    sample_weight=None,
    validation_data=None,
    callbacks=None,
    verbose="auto",
    max_evaluations=None,
):
    """Train `model` full-batch with its compiled kerasopt second-order optimizer.

    Args:
        model: a Keras model compiled with a `kerasopt.second_order` optimizer.
        x: in-memory training inputs, or a finite `tf.data.Dataset` of `(x, y)` /
            `(x, y, sample_weight)` batches (then `y` and `sample_weight` are None).
        y: in-memory targets.
        sample_weight: in-memory per-example weights, or None.
        max_iterations: iterations (reported to callbacks as one epoch of one step each, or
            one epoch per `steps_per_execution` iterations).
        validation_data: `(x_val, y_val[, sample_weight])` or a dataset, evaluated after every
            iteration.
        callbacks: Keras callbacks.
        verbose: "auto", 0, 1 or 2 as in `model.fit`.
        max_evaluations: budget of loss-and-gradient evaluations (None: unlimited).

    Returns:
        The Keras `History`; `history.convergence` is the run's `OptimizeResult`.

    Example:
        >>> import keras, numpy as np
        >>> import kerasopt.second_order as so
        >>> x = np.linspace(-1, 1, 16).reshape(-1, 1).astype("float32")
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=so.BFGS(), loss="mse")
        >>> history = so.fit(model, x, 3 * x, max_iterations=20, verbose=0,
        ...                  callbacks=[keras.callbacks.EarlyStopping(monitor="loss", patience=2)])
        >>> history.convergence.converged, round(float(model.layers[0].kernel.numpy()[0, 0]), 4)
        (True, 3.0)
    """
    require_backend("kerasopt.second_order.fit")
    if not isinstance(model, keras.Model):
        raise TypeError(f"Argument `model` must be a keras.Model. Received: model={model!r}")
    optimizer = getattr(model, "optimizer", None)
    if not getattr(model, "compiled", False) or not isinstance(optimizer, SecondOrderOptimizer):
        raise ValueError(
            "Argument `model` must be compiled with a kerasopt.second_order optimizer (LBFGS, BFGS, "
            "ConjugateGradient, Newton, SaddleFreeNewton). Received: model.optimizer="
            f"{type(optimizer).__name__ if optimizer is not None else None}"
        )
    max_iterations = check_int("max_iterations", max_iterations, 1)
    if max_evaluations is not None:
        check_int("max_evaluations", max_evaluations, 1)
    check_choice("verbose", verbose, ("auto", 0, 1, 2))
    verbose = 1 if verbose == "auto" else verbose
    if _ops.is_dataset(x):
        if _ops.on_jax():
            raise ValueError(
                "Argument `x` must be in-memory arrays on the JAX backend (the full-batch loss "
                "over a tf.data.Dataset runs inside a TensorFlow graph). Received: x="
                f"{type(x).__name__}. Pass NumPy arrays, or use KERAS_BACKEND=tensorflow."
            )
        if y is not None or sample_weight is not None:
            raise ValueError(
                "Arguments `y` and `sample_weight` must be None when `x` is a dataset. "
                f"Received: y={type(y).__name__}, sample_weight={type(sample_weight).__name__}"
            )
        dataset, data = x, None
        sample_x = keras.utils.unpack_x_y_sample_weight(next(iter(x)))[0]
    else:
        if x is None or y is None:
            raise ValueError(
                f"Arguments `x` and `y` are required for in-memory data. Received: "
                f"x={type(x).__name__}, y={type(y).__name__}"
            )
        dataset, sample_x = None, x
        x, y = (keras.tree.map_structure(ops.convert_to_tensor, v) for v in (x, y))
        if sample_weight is not None:
            sample_weight = ops.convert_to_tensor(sample_weight)
        data = (x, y, sample_weight)
    if not model.built:
        model(keras.tree.map_structure(lambda t: t[:1], sample_x))
    objective, x0 = model_objective(model, data, dataset)
    bounds = None
    if getattr(optimizer, "bounds", None) is not None:
        bounds = check_bounds(optimizer.bounds, objective.size, "bounds")
    # The compiled functions are cached on the optimizer for this model, its compiled loss and
    # its variables: a second `fit` (same shapes) does not retrace. The key holds the model and
    # its compiled-loss object themselves (not their ids, which a later object could reuse).
    cache_key = (
        "fit",
        model,
        getattr(model, "_compile_loss", None),
        tuple(id(v) for v in model.trainable_variables),
    )
    train_metrics = getattr(model, "_compile_metrics", None) is not None
    steps_per_execution = int(getattr(model, "steps_per_execution", 1) or 1)
    jit_compile = bool(model.jit_compile) and dataset is None
    train_data = x if dataset is not None else data

    callback_list = keras.callbacks.CallbackList(
        callbacks,
        add_history=True,
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=-(-max_iterations // steps_per_execution),
        steps=1,
    )
    model.stop_training = False
    callback_list.on_train_begin()

    def before(epoch):
        callback_list.on_epoch_begin(epoch)
        callback_list.on_train_batch_begin(0)

    logs = {}

    def after(epoch, info):
        nonlocal logs
        logs = {"loss": info["loss"]}
        if train_metrics:
            logs.update({k: v for k, v in _evaluate(model, train_data, "").items() if k != "loss"})
        logs.update(
            {
                "gradient_norm": info["gradient_norm"],
                "evaluations": float(info["evaluations"]),
                "iterations": float(info["iterations"]),
            }
        )
        callback_list.on_train_batch_end(0, logs)
        if validation_data is not None:
            logs.update(_evaluate(model, validation_data, "val_"))
        callback_list.on_epoch_end(epoch, logs)
        return bool(model.stop_training)

    result = run(
        optimizer,
        objective,
        x0,
        max_iterations,
        max_evaluations,
        steps_per_execution,
        jit_compile,
        before,
        after,
        bounds=bounds,
        cache_key=cache_key,
    )
    callback_list.on_train_end(logs)
    history = model.history
    history.convergence = result
    if verbose and not result.converged:
        print(f"kerasopt.second_order.fit: {result.message}")
    return history
