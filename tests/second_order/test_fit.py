"""`kerasopt.second_order.fit` on a Keras MLP: the full-batch loss (regularizers included,
datasets summed over batches) checked against NumPy; History non-increasing; callbacks;
save/load; the clear error from `model.fit`."""

import csv

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.second_order import BFGS, LBFGS, ConjugateGradient, Newton, SaddleFreeNewton, fit

L2 = 1e-3


def _data():
    x = np.linspace(-1.0, 1.0, 48, dtype="float32")[:, None]
    return x, np.sin(3.0 * x).astype("float32")


def _model(optimizer, metrics=("mae",)):
    model = keras.Sequential(
        [
            keras.Input((1,)),
            keras.layers.Dense(6, activation="tanh", kernel_regularizer=keras.regularizers.L2(L2)),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=optimizer, loss="mse", metrics=list(metrics))
    return model


def _numpy_loss(model, x, y):
    """MSE plus the L2 penalty, recomputed in NumPy from the weights."""
    k1, b1, k2, b2 = model.get_weights()
    pred = np.tanh(x @ k1 + b1) @ k2 + b2
    return np.mean((pred - y) ** 2) + L2 * np.sum(k1**2)


def _numpy_loss_at(model, weights, x, y):
    current = model.get_weights()
    model.set_weights(weights)
    loss = _numpy_loss(model, x, y)
    model.set_weights(current)
    return loss


class Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch))

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(("batch_end", batch))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, dict(logs)))

    def on_train_end(self, logs=None):
        self.events.append("train_end")


@pytest.mark.portable
@pytest.mark.parametrize(
    "optimizer",
    [
        LBFGS,
        Newton,
        *(
            pytest.param(c, marks=pytest.mark.slow)
            for c in (BFGS, ConjugateGradient, SaddleFreeNewton)
        ),
    ],
)
@pytest.mark.reference("second_order.fit", "second_order.SecondOrderOptimizer")
def test_history_loss_is_the_full_batch_loss_and_non_increasing(optimizer):
    x, y = _data()
    with_metrics = optimizer is LBFGS  # evaluate() per iteration is slow: once is enough
    model = _model(optimizer(), ("mae",) if with_metrics else ())
    start = _numpy_loss(model, x, y)
    recorder = Recorder()
    history = fit(
        model,
        x,
        y,
        max_iterations=5,
        validation_data=(x, y) if with_metrics else None,
        callbacks=[recorder],
        verbose=0,
    )
    losses = history.history["loss"]
    assert 1 <= len(losses) <= 5
    assert all(b <= a for a, b in zip(losses, losses[1:], strict=False)), losses
    assert losses[-1] < start
    # The logged loss is the full-batch objective at the final weights, regularizer included.
    assert losses[-1] == pytest.approx(_numpy_loss(model, x, y), rel=1e-5)
    keys = ("gradient_norm", "evaluations") + (
        ("mae", "val_loss", "val_mae") if with_metrics else ()
    )
    for key in keys:
        assert len(history.history[key]) == len(losses)
    if with_metrics:  # Keras' evaluate on the same data agrees with the logged objective
        assert history.history["val_loss"][-1] == pytest.approx(losses[-1], rel=1e-4)
    # One iteration = one epoch of one step, in Keras' order.
    epochs = len(losses)
    assert recorder.events[0] == "train_begin" and recorder.events[-1] == "train_end"
    assert [e[:2] for e in recorder.events[1:-1]] == [
        ev for i in range(epochs) for ev in (("epoch_begin", i), ("batch_end", 0), ("epoch_end", i))
    ]
    assert history.convergence.iterations == epochs
    assert model.optimizer.iterations.numpy() == epochs


@pytest.mark.portable
@pytest.mark.parametrize("optimizer", [BFGS, ConjugateGradient, SaddleFreeNewton])
def test_history_loss_of_a_linear_model_is_the_full_batch_loss_and_non_increasing(optimizer):
    """The cheap default-run variant of the history check (the 25-parameter MLP runs with
    `-m slow`): a 2-parameter ridge model, the logged loss against a NumPy restatement."""
    x, y = _data()
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, kernel_regularizer=keras.regularizers.L2(L2))]
    )
    model.compile(optimizer=optimizer(), loss="mse")

    def numpy_loss():
        k, b = model.get_weights()
        return np.mean((x @ k + b - y) ** 2) + L2 * np.sum(k**2)

    start = numpy_loss()
    history = fit(model, x, y, max_iterations=3, verbose=0)
    losses = history.history["loss"]
    assert 1 <= len(losses) <= 3
    assert all(b <= a for a, b in zip(losses, losses[1:], strict=False)), losses
    assert losses[-1] < start
    assert losses[-1] == pytest.approx(numpy_loss(), rel=1e-5)
    assert history.convergence.iterations == len(losses) == model.optimizer.iterations.numpy()


@pytest.mark.portable
@pytest.mark.parametrize("jit_compile", [False, True])
def test_steps_per_execution_runs_iterations_in_the_graph_one_epoch_per_call(jit_compile):
    """compile(steps_per_execution=4): 10 iterations run in calls of 4, 4 and 2; callbacks see
    one epoch per call with the last iteration's logs; without XLA the weights follow exactly
    the path of one iteration per call. Under XLA, float32 rounding of fused kernels makes
    the paths drift apart over iterations (line-search branches amplify it), so there the
    first iteration is compared and the rest checked against the NumPy loss."""
    x, y = _data()
    iterations = 1 if jit_compile else 10
    reference = _model(LBFGS(gtol=0.0, ftol=0.0), ())
    initial = reference.get_weights()
    fit(reference, x, y, max_iterations=iterations, verbose=0)
    model = _model(LBFGS(gtol=0.0, ftol=0.0), ())
    model.set_weights(initial)
    model.compile(
        optimizer=LBFGS(gtol=0.0, ftol=0.0),
        loss="mse",
        steps_per_execution=4,
        jit_compile=jit_compile,
    )
    fit(model, x, y, max_iterations=iterations, verbose=0)
    for ours, theirs in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4 if jit_compile else 1e-6, atol=1e-7)
    model.set_weights(initial)
    model.compile(
        optimizer=LBFGS(gtol=0.0, ftol=0.0),
        loss="mse",
        steps_per_execution=4,
        jit_compile=jit_compile,
    )
    recorder = Recorder()
    history = fit(model, x, y, max_iterations=10, callbacks=[recorder], verbose=0)
    assert history.history["iterations"] == [4.0, 8.0, 10.0]
    assert [e[:2] for e in recorder.events[1:-1]] == [
        ev for i in range(3) for ev in (("epoch_begin", i), ("batch_end", 0), ("epoch_end", i))
    ]
    assert history.convergence.iterations == 10 and model.optimizer.iterations.numpy() == 10
    assert "max_iterations=10" in history.convergence.message
    losses = history.history["loss"]
    assert all(b <= a for a, b in zip(losses, losses[1:], strict=False)), losses
    assert losses[-1] == pytest.approx(_numpy_loss(model, x, y), rel=1e-5)
    assert losses[-1] < _numpy_loss_at(model, initial, x, y)


@pytest.mark.portable
def test_keras_callbacks_early_stopping_checkpoint_csv(tmp_path):
    x, y = _data()
    model = _model(LBFGS(), ())
    checkpoint = tmp_path / "best.keras"
    log = tmp_path / "log.csv"
    stopper = keras.callbacks.EarlyStopping(monitor="loss", min_delta=10.0, patience=1)
    history = fit(
        model,
        x,
        y,
        max_iterations=20,
        verbose=0,
        callbacks=[
            stopper,
            keras.callbacks.ModelCheckpoint(str(checkpoint)),
            keras.callbacks.CSVLogger(str(log)),
        ],
    )
    # min_delta is huge, so no iteration "improves": stops after patience + 1 iterations.
    assert len(history.history["loss"]) == 2
    assert stopper.stopped_epoch == 1
    assert "callback" in history.convergence.message
    rows = list(csv.DictReader(log.open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert float(rows[-1]["loss"]) == pytest.approx(history.history["loss"][-1])
    restored = keras.models.load_model(checkpoint)
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )


@pytest.mark.portable
@pytest.mark.parametrize(
    "optimizer",
    [LBFGS(history=4), pytest.param(Newton(solver="cg", damping=1e-2), marks=pytest.mark.slow)],
)
def test_model_saves_and_loads_with_its_optimizer(tmp_path, optimizer):
    x, y = _data()
    model = _model(optimizer, ())
    fit(model, x, y, max_iterations=3, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert type(restored.optimizer) is type(optimizer)
    assert restored.optimizer.get_config() == optimizer.get_config()
    # The loaded model trains on with fit.
    history = fit(restored, x, y, max_iterations=2, verbose=0)
    assert history.history["loss"][-1] <= history.history["loss"][0]


@pytest.mark.portable
@pytest.mark.parametrize("optimizer", [LBFGS, BFGS, ConjugateGradient, Newton, SaddleFreeNewton])
def test_model_fit_stops_at_once_with_a_clear_error(optimizer):
    x, y = _data()
    model = _model(optimizer())
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(RuntimeError, match=r"kerasopt\.second_order\.fit"):
        model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_dataset_loss_is_the_full_batch_loss():
    """Batches of unequal size (48 = 20 + 20 + 8) are weighted back to the full-batch mean."""
    x, y = _data()
    model_a, model_b = _model(LBFGS(), ()), _model(LBFGS(), ())
    model_b.set_weights(model_a.get_weights())
    start = _numpy_loss(model_a, x, y)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(20)
    in_memory = fit(model_a, x, y, max_iterations=3, verbose=0).history["loss"]
    batched = fit(model_b, dataset, max_iterations=3, verbose=0).history["loss"]
    np.testing.assert_allclose(batched, in_memory, rtol=1e-4)
    assert in_memory[0] < start
    assert batched[-1] == pytest.approx(_numpy_loss(model_b, x, y), rel=1e-5)


@pytest.mark.portable
def test_non_finite_data_stops_with_message_and_keeps_weights():
    x, y = _data()
    y = y.copy()
    y[3] = np.nan
    model = _model(LBFGS())
    before = model.get_weights()
    history = fit(model, x, y, max_iterations=5, verbose=0)
    assert not history.convergence.converged
    assert "non-finite" in history.convergence.message
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_fit_argument_errors_name_argument_and_value():
    x, y = _data()
    with pytest.raises(ValueError, match=r"max_iterations=0"):
        fit(_model(LBFGS()), x, y, max_iterations=0)
    with pytest.raises(ValueError, match=r"verbose=3"):
        fit(_model(LBFGS()), x, y, verbose=3)
    adam = _model(keras.optimizers.Adam())
    with pytest.raises(ValueError, match=r"model\.optimizer=Adam"):
        fit(adam, x, y)
    infinite = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat()
    with pytest.raises(ValueError, match="infinite dataset"):
        fit(_model(LBFGS()), infinite)


@pytest.mark.portable
def test_dense_limit_on_a_model_names_the_argument():
    x, y = _data()
    model = _model(Newton(max_parameters=10))
    with pytest.raises(ValueError, match=r"max_parameters`=10.*19 parameters.*solver=\"cg\""):
        fit(model, x, y, max_iterations=2, verbose=0)
