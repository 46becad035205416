import glob

import keras
import numpy as np
import pytest

from kerasopt.callbacks import CurvatureMonitor


@pytest.fixture
def float64():
    old, old_policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    yield
    keras.config.set_floatx(old)
    keras.config.set_dtype_policy(old_policy)


def tiny_problem():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 3))
    y = rng.integers(0, 2, size=16)
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(3, activation="tanh"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    return model, x, y


def dense_hessian(model, x, y):
    """The full Hessian by the Jacobian of the gradient (independent of the HVP code)."""
    import tensorflow as tf

    variables = model.trainable_variables
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    with tf.GradientTape(persistent=True) as outer:
        with tf.GradientTape() as inner:
            loss = loss_fn(y, model(x))
        grads = inner.gradient(loss, variables)
        flat = tf.concat([tf.reshape(g, [-1]) for g in grads], axis=0)
    blocks = outer.jacobian(flat, variables)
    n = int(flat.shape[0])
    hessian = tf.concat([tf.reshape(b, [n, -1]) for b in blocks], axis=1).numpy()
    return flat.numpy(), hessian


@pytest.mark.reference("callbacks.CurvatureMonitor")
def test_matches_dense_hessian(float64):
    model, x, y = tiny_problem()
    model.fit(x, y, batch_size=16, epochs=3, verbose=0)  # away from the initial point
    monitor = CurvatureMonitor(1, (x, y), power_iterations=2000, tol=1e-12)
    monitor.set_model(model)
    got = monitor.measure()
    assert all(v.dtype == "float64" for v in model.trainable_variables)

    g, hessian = dense_hessian(model, x, y)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-10)
    eigenvalues = np.linalg.eigvalsh(hessian)
    top = eigenvalues[np.argmax(np.abs(eigenvalues))]
    # Tolerances from float64 and the power iteration's stopping rule, not from the code:
    # - grad_sq and gHg are the same exact quantities computed along two paths (the monitor's
    #   HVP, the dense Jacobian), so they differ by rounding only. Each Hessian entry sums the
    #   16 examples' terms and g^T H g sums n x n entries: by the summation bound (Higham, Acc.
    #   and Stab., eq. 3.5) the relative error is at most (16 + n) eps kappa, kappa =
    #   |g|^T |H| |g| / |g^T H g| (1 for the sum of squares), about 1e-14 here (seen: 3e-16).
    # - the power iteration stops when its estimate moves by <= tol relative; the error left
    #   shrinks geometrically by r = |lambda_2 / lambda_1| per step, so it is at most
    #   tol / (1 - r) (about 5e-12 here; seen: 1.3e-12).
    eps, n = np.finfo(np.float64).eps, g.size
    kappa = (np.abs(g) @ np.abs(hessian) @ np.abs(g)) / abs(g @ hessian @ g)
    r = np.sort(np.abs(eigenvalues))[-2] / abs(top)
    assert abs(got["grad_sq"] - g @ g) / (g @ g) < (len(x) + n) * eps
    assert abs(got["gHg"] - g @ hessian @ g) / abs(g @ hessian @ g) < (len(x) + n) * eps * kappa
    assert abs(got["top_eigenvalue"] - top) / abs(top) < 1e-12 / (1 - r) + (len(x) + n) * eps


def test_logs_history_and_tensorboard(tmp_path):
    import tensorflow as tf

    model, x, y = tiny_problem()
    seen = []

    class Recorder(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append("gHg" in logs)

    monitor = CurvatureMonitor(
        every_n_steps=3, data=(x, y), power_iterations=5, log_dir=tmp_path / "tb"
    )
    history = model.fit(
        x, y, batch_size=4, epochs=2, verbose=0, shuffle=False, callbacks=[monitor, Recorder()]
    )
    # 8 steps, measured after steps 1, 4, 7
    assert monitor.history["step"] == [1, 4, 7]
    assert seen == [True, False, False, True, False, False, True, False]
    for key in ("grad_sq", "gHg", "top_eigenvalue", "gHg_over_grad_sq"):
        assert len(history.history[key]) == 2
    assert history.history["gHg"][-1] == monitor.history["gHg"][-1]
    tags = {}
    for event_file in glob.glob(str(tmp_path / "tb" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(
                    (event.step, float(tf.make_ndarray(value.tensor)))
                )
    assert [s for s, _ in tags["curvature/gHg"]] == [1, 4, 7]
    np.testing.assert_allclose(
        [v for _, v in tags["curvature/grad_sq"]], monitor.history["grad_sq"], rtol=1e-6
    )


def test_argument_validation():
    data = (np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="`every_n_steps`"):
        CurvatureMonitor(0, data)
    with pytest.raises(ValueError, match="`data`"):
        CurvatureMonitor(5, np.zeros(3))
    with pytest.raises(ValueError, match="`tol`"):
        CurvatureMonitor(5, data, tol=0)
    cb = CurvatureMonitor(5, data, power_iterations=7)
    assert CurvatureMonitor(data=data, **cb.get_config()).get_config() == cb.get_config()


def least_squares():
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(32, 3)) * [1.0, 2.0, 3.0]).astype("float32")
    y = (x @ np.array([[1.0], [2.0], [-1.0]]) + rng.normal(size=(32, 1))).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model, x, y


@pytest.mark.portable
@pytest.mark.reference("callbacks.CurvatureMonitor")
def test_least_squares_matches_numpy_closed_form():
    # mse of a linear model: gradient 2/n A^T (A w - y), constant Hessian 2/n A^T A, A = [X 1].
    model, x, y = least_squares()
    monitor = CurvatureMonitor(1, (x, y), power_iterations=500, tol=1e-9)
    monitor.set_model(model)
    got = monitor.measure()
    a = np.hstack([x, np.ones((32, 1))]).astype("float64")
    kernel, bias = (v.numpy().astype("float64") for v in model.trainable_variables)
    w = np.vstack([kernel, bias.reshape(1, 1)])
    hessian = 2 * a.T @ a / 32
    g = (2 * a.T @ (a @ w - y) / 32).ravel()
    np.testing.assert_allclose(got["loss"], np.mean((a @ w - y) ** 2), rtol=1e-5)
    np.testing.assert_allclose(got["grad_sq"], g @ g, rtol=1e-4)
    np.testing.assert_allclose(got["gHg"], g @ hessian @ g, rtol=1e-4)
    np.testing.assert_allclose(got["top_eigenvalue"], np.linalg.eigvalsh(hessian).max(), rtol=1e-4)


@pytest.mark.portable
def test_measures_the_weights_of_the_step_it_reports():
    # After step k the monitor sees the weights of step k (on JAX: synced from the train
    # state, which otherwise reaches the model only at the end of the epoch).
    model, x, y = least_squares()
    initial = model.get_weights()
    monitor = CurvatureMonitor(every_n_steps=3, data=(x, y), power_iterations=5)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False, callbacks=[monitor])
    assert monitor.history["step"] == [1, 4]

    def mse(weights):
        return float(np.mean((x.astype("float64") @ weights[0] + weights[1] - y) ** 2))

    one_step, _, _ = least_squares()
    one_step.set_weights(initial)
    one_step.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(
        monitor.history["loss"], [mse(one_step.get_weights()), mse(model.get_weights())], rtol=1e-5
    )
    assert monitor.history["loss"][0] != pytest.approx(mse(initial), rel=1e-3)
