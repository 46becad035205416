import keras
import numpy as np
import pytest

from kerasopt.callbacks import MomentumCycle
from kerasopt.schedules import OneCycle

RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 3)).astype("float32")
Y = RNG.normal(size=(8, 1)).astype("float32")
STEPS = 12


def one_cycle_np(k, start, peak, end, total=STEPS, pct=0.4):
    up = pct * total
    if k <= up:
        f = k / up
        return peak + (start - peak) * (1 + np.cos(np.pi * f)) / 2
    f = min((k - up) / (total - up), 1.0)
    return end + (peak - end) * (1 + np.cos(np.pi * f)) / 2


def lr_np(k):
    return one_cycle_np(k, 0.05 / 25, 0.05, 0.05 / 25 / 1e4)


def mom_np(k):
    return one_cycle_np(k, 0.95, 0.85, 0.95)


def fit(optimizer, schedule, strategy=None):
    import contextlib

    with strategy.scope() if strategy else contextlib.nullcontext():
        model = keras.Sequential(
            [keras.Input((3,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")]
        )
        model.compile(optimizer=optimizer(), loss="mse", jit_compile=strategy is None)
    # STEPS identical full batches in one epoch
    xs, ys = np.tile(X, (STEPS, 1)), np.tile(Y, (STEPS, 1))
    model.fit(
        xs,
        ys,
        batch_size=8,
        epochs=1,
        verbose=0,
        shuffle=False,
        callbacks=[MomentumCycle(schedule)],
    )
    return model


def grad(w):
    return 2.0 / len(X) * X.T @ (X @ w - Y)


def sgd_reference():
    w, velocity = np.ones((3, 1)), np.zeros((3, 1))
    for k in range(STEPS):  # Keras SGD: v = mu v - lr g; w = w + v
        velocity = mom_np(k) * velocity - lr_np(k) * grad(w)
        w = w + velocity
    return w


def test_sgd_momentum_cycles_under_mirrored_strategy(strategy):
    schedule = OneCycle(0.05, STEPS, pct_start=0.4)
    model = fit(lambda: keras.optimizers.SGD(schedule, momentum=0.9), schedule, strategy)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.layers[0].kernel), sgd_reference(), rtol=1e-5, atol=1e-6
    )


@pytest.mark.portable
@pytest.mark.reference("callbacks.MomentumCycle")
def test_sgd_momentum_cycles_inversely():
    schedule = OneCycle(0.05, STEPS, pct_start=0.4)
    model = fit(lambda: keras.optimizers.SGD(schedule, momentum=0.9), schedule)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.layers[0].kernel), sgd_reference(), rtol=1e-5, atol=1e-6
    )
    # after fit: a plain float again, model saves and loads
    assert isinstance(model.optimizer.momentum, float)
    assert model.optimizer.momentum == pytest.approx(mom_np(STEPS - 1), rel=1e-6)


@pytest.mark.portable
@pytest.mark.reference("callbacks.MomentumCycle")
def test_adam_beta_1_cycles_inversely(tmp_path):
    schedule = OneCycle(0.05, STEPS, pct_start=0.4)
    model = fit(lambda: keras.optimizers.Adam(schedule), schedule)
    w, m, v = np.ones((3, 1)), np.zeros((3, 1)), np.zeros((3, 1))
    for k in range(STEPS):  # Kingma & Ba 2015, Alg. 1, with beta_1 = mu_k at step k
        b1, b2, t = mom_np(k), 0.999, k + 1
        g = grad(w)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr_np(k) * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.layers[0].kernel), w, rtol=1e-4, atol=1e-6
    )
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.optimizer.beta_1 == pytest.approx(model.optimizer.beta_1)


@pytest.mark.portable
def test_rejects_optimizer_without_momentum():
    schedule = OneCycle(0.05, STEPS)
    with pytest.raises(ValueError, match="momentum"):
        fit(lambda: keras.optimizers.SGD(schedule), schedule)


@pytest.mark.portable
def test_config_round_trip_and_validation():
    cb = MomentumCycle(OneCycle(0.1, 50), base_momentum=0.8, max_momentum=0.9)
    restored = MomentumCycle.from_config(cb.get_config())
    assert restored.get_config() == cb.get_config()
    with pytest.raises(TypeError, match="`schedule`"):
        MomentumCycle(0.1)
    with pytest.raises(ValueError, match="`max_momentum`"):
        MomentumCycle(OneCycle(0.1, 50), base_momentum=0.9, max_momentum=0.8)
    with pytest.raises(ValueError, match="`base_momentum`"):
        MomentumCycle(OneCycle(0.1, 50), base_momentum=1.0)


@pytest.mark.portable
def test_checkpoint_during_fit_saves_current_momentum(tmp_path):
    schedule = OneCycle(0.05, STEPS, pct_start=0.4)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
    checkpoint = keras.callbacks.ModelCheckpoint(tmp_path / "ckpt.keras")
    model.fit(
        np.tile(X, (STEPS, 1)),
        np.tile(Y, (STEPS, 1)),
        batch_size=8,
        epochs=1,
        verbose=0,
        callbacks=[MomentumCycle(schedule), checkpoint],
    )
    loaded = keras.models.load_model(tmp_path / "ckpt.keras")
    assert isinstance(loaded.optimizer.beta_1, float)
    assert loaded.optimizer.beta_1 == pytest.approx(mom_np(STEPS - 1), rel=1e-6)
    assert "get_config" not in vars(model.optimizer)  # the instance is restored after fit


@pytest.mark.portable
@pytest.mark.reference("callbacks.MomentumCycle")
def test_nesterov_sgd_and_rmsprop_follow_the_cycle():
    """The velocity rescale of `step_momentum`, against NumPy restatements of Keras' rules with
    mu_k in place of the constant momentum."""
    schedule = OneCycle(0.05, STEPS, pct_start=0.4)
    model = fit(lambda: keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True), schedule)
    w, velocity = np.ones((3, 1)), np.zeros((3, 1))
    for k in range(STEPS):  # Keras SGD, Nesterov: v = mu v - lr g; w = w + mu v - lr g
        g = grad(w)
        velocity = mom_np(k) * velocity - lr_np(k) * g
        w = w + mom_np(k) * velocity - lr_np(k) * g
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.layers[0].kernel), w, rtol=1e-5, atol=1e-6
    )

    model = fit(lambda: keras.optimizers.RMSprop(schedule, momentum=0.9), schedule)
    w, mean_square, velocity = np.ones((3, 1)), np.zeros((3, 1)), np.zeros((3, 1))
    for k in range(STEPS):  # Keras RMSprop (rho 0.9, eps 1e-7) with momentum mu_k
        g = grad(w)
        mean_square = 0.9 * mean_square + 0.1 * g * g
        velocity = mom_np(k) * velocity + lr_np(k) * g / np.sqrt(mean_square + 1e-7)
        w = w - velocity
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.layers[0].kernel), w, rtol=1e-5, atol=1e-6
    )
    assert model.optimizer.momentum == pytest.approx(mom_np(STEPS - 1), rel=1e-6)
