"""Every kerasopt optimizer and wrapper behaves like a Keras optimizer: model.fit with and
without XLA, MirroredStrategy, save/resume, mixed precision, MultiOptimizer, base
arguments (clipping, weight decay) and learning-rate delegation."""

import keras
import numpy as np
import pytest

from kerasopt.optimizers import Averaged, BlockCoordinate, DeltaBarDelta, Lookahead, RMSpropNesterov

FACTORIES = {
    "delta_bar_delta": lambda: DeltaBarDelta(0.01, kappa=1e-3),
    "rmsprop_nesterov": lambda: RMSpropNesterov(0.01),
    # finalize=False: the resume test continues training from the raw iterate.
    "averaged_polyak": lambda: Averaged(keras.optimizers.SGD(0.05, momentum=0.9), finalize=False),
    "averaged_ema": lambda: Averaged(keras.optimizers.Adam(0.01), "ema", decay=0.9, finalize=False),
    "averaged_swa": lambda: Averaged(
        RMSpropNesterov(0.01), "swa", start_step=2, every=3, finalize=False
    ),
    "lookahead": lambda: Lookahead(keras.optimizers.Adam(0.01), sync_period=3),
    "block_coordinate": lambda: BlockCoordinate(
        keras.optimizers.Adam(0.01), ["kernel", "bias"], order="random", steps_per_block=2
    ),
}
# The polyak and ema variants share every code path with swa except the averaging
# weight (tested exactly in test_averaging.py): their integration runs are marked slow.
NAMES = [
    pytest.param(n, marks=pytest.mark.slow) if n in ("averaged_polyak", "averaged_ema") else n
    for n in FACTORIES
]
RNG = np.random.default_rng(11)
X = RNG.normal(size=(40, 4)).astype("float32")
Y = (X @ RNG.normal(size=(4, 1)) + 0.1 * RNG.normal(size=(40, 1))).astype("float32")
INITIAL = None


def make_model(first_trainable=True):
    """Tiny MLP with fixed initial weights (5 steps per epoch at batch size 8)."""
    global INITIAL
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="tanh", name="first", trainable=first_trainable),
            keras.layers.Dense(1, name="second"),
        ]
    )
    if INITIAL is None:
        INITIAL = [w.copy() for w in model.get_weights()]
    model.set_weights(INITIAL)
    return model


def fit(model, optimizer, epochs=2, jit_compile=False):
    model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
    model.fit(X, Y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)
    return model


def state(model):
    """(weights, optimizer variable values) of a model."""
    return model.get_weights(), [np.asarray(v) for v in model.optimizer.variables]


_REFERENCE = {}


def reference(name):
    """State after 10 steps (2 epochs) on one device without XLA, computed once per name."""
    if name not in _REFERENCE:
        _REFERENCE[name] = state(fit(make_model(), FACTORIES[name]()))
    return _REFERENCE[name]


def assert_states_close(a, b, atol, weights_only=False):
    for u, v in zip(a[0], b[0], strict=True):
        np.testing.assert_allclose(u, v, atol=atol, rtol=0)
    if not weights_only:
        assert len(a[1]) == len(b[1])
        for u, v in zip(a[1], b[1], strict=True):
            np.testing.assert_allclose(u, v, atol=atol, rtol=0)


@pytest.mark.portable
@pytest.mark.parametrize("name", NAMES)
def test_fit_with_and_without_xla(name):
    xla = fit(make_model(), FACTORIES[name](), jit_compile=True)
    assert int(xla.optimizer.iterations) == 10
    assert not np.allclose(xla.get_weights()[0], INITIAL[0])
    assert_states_close(reference(name), state(xla), atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_mirrored_strategy_matches_one_device(name, strategy):
    with strategy.scope():
        model = make_model()
        model.compile(optimizer=FACTORIES[name](), loss="mse", jit_compile=False)
    model.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert_states_close(reference(name), state(model), atol=1e-5)


@pytest.mark.portable
@pytest.mark.parametrize("name", NAMES)
def test_save_load_resume_equals_straight_training(name, tmp_path):
    first = fit(make_model(), FACTORIES[name](), epochs=1)
    first.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), first.predict(X, verbose=0))
    assert type(loaded.optimizer) is type(first.optimizer)
    assert_states_close(state(first), state(loaded), atol=0)
    loaded.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert_states_close(reference(name), state(loaded), atol=1e-6)


@pytest.mark.portable
@pytest.mark.parametrize("name", NAMES)
def test_inside_loss_scale_optimizer_with_mixed_float16(name):
    applied = []  # per batch: did the step happen (LossScaleOptimizer skips overflowing ones)

    class Steps(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            applied.append(int(self.model.optimizer.iterations))

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = make_model()
        model.compile(optimizer=FACTORIES[name](), loss="mse", jit_compile=False)
        model.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[Steps()])
    finally:
        keras.config.set_dtype_policy(previous)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.optimizer.inner_optimizer.loss_scale_factor is None
    # LossScaleOptimizer skips a step whose scaled float16 gradient overflows (and halves the
    # scale): at most one here, from the initial scale 2**15. The float32 reference takes
    # exactly the steps that were taken, on the same batches in the same order.
    taken = [j for j, n in enumerate(applied) if n > (applied[j - 1] if j else 0)]
    assert len(applied) == 10 and len(taken) >= 9 and int(model.optimizer.iterations) == len(taken)
    rows = np.concatenate([np.arange(8 * (j % 5), 8 * (j % 5) + 8) for j in taken])
    path = []  # the float32 reference's iterates w_0, w_1, ...

    class Path(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            path.append([w.copy() for w in self.model.get_weights()])

    ref_model = make_model()
    path.append([w.copy() for w in ref_model.get_weights()])
    ref_model.compile(optimizer=FACTORIES[name](), loss="mse", jit_compile=False)
    ref_model.fit(
        X[rows], Y[rows], batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[Path()]
    )
    # Bound on the distance to the float32 trajectory, from float16 rounding: float16's unit
    # roundoff is u = 2**-11. Each forward/backward product is rounded to float16, so a step's
    # gradient carries a componentwise relative error of at most about n u, n the roundings on
    # its path (Higham, Accuracy and Stability of Numerical Algorithms, 2002, sec. 3.1: inner
    # products of length 4 and 8, tanh, the mean over the 8-example batch; n ~ 25). A rule
    # that is Lipschitz in the gradient with relative constant L (1 for SGD, at most 2 for the
    # normalized rules, which also divide by the root of the same rounded squares) moves each
    # step by at most L n u of its length, so the two runs end at most L n u = 50 u = 0.024
    # times the reference's path length sum_t ||w_t - w_{t-1}|| apart. (Sign-based rules flip
    # a sign only where a component is below its rounding error.) Measured: at most 3 u of
    # the net displacement, which is itself at most the path length. A step taken on the
    # still-scaled gradients (2**15 too long), or a skipped step left out of the reference
    # (about a tenth of the path), fails it.
    bound = 50 * 2.0**-11
    assert len(path) == len(taken) + 1
    for i, (mixed, ref) in enumerate(
        zip(model.get_weights(), ref_model.get_weights(), strict=True)
    ):
        length = sum(np.linalg.norm(b[i] - a[i]) for a, b in zip(path[:-1], path[1:], strict=True))
        np.testing.assert_array_equal(path[-1][i], ref)
        assert np.linalg.norm(mixed - ref) <= bound * length, (
            np.linalg.norm(mixed - ref) / length / 2.0**-11
        )


@pytest.mark.portable
@pytest.mark.parametrize("name", NAMES)
def test_inside_multi_optimizer(name):
    # "first" gets a zero-rate SGD, "second" the optimizer under test: the same as
    # training "second" alone with "first" frozen.
    multi = keras.optimizers.MultiOptimizer(
        keras.optimizers.OptimizerMap(
            keras.optimizers.SGD(0.0), {".*/second/.*": FACTORIES[name]()}
        )
    )
    together = fit(make_model(), multi)
    alone = fit(make_model(first_trainable=False), FACTORIES[name]())
    for u, v in zip(together.layers[1].get_weights(), alone.layers[1].get_weights(), strict=True):
        np.testing.assert_allclose(u, v, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(together.layers[0].get_weights()[0], INITIAL[0])


@pytest.mark.portable
@pytest.mark.parametrize("cls", [DeltaBarDelta, RMSpropNesterov])
@pytest.mark.parametrize("clip", ["clipnorm", "global_clipnorm"])
def test_gradient_clipping(cls, clip, quadratic, run_steps):
    clipped, _ = run_steps(cls(0.01, **{clip: 0.5}), quadratic, 20)

    class PreClipped:  # the same problem with the gradient clipped in NumPy
        initial, variables = quadratic.initial, quadratic.variables

        @staticmethod
        def grad(ws):
            gs = quadratic.grad(ws)
            if clip == "clipnorm":
                return [g * min(1.0, 0.5 / np.linalg.norm(g)) for g in gs]
            total = np.sqrt(sum((g**2).sum() for g in gs))
            return [g * min(1.0, 0.5 / total) for g in gs]

    manual, _ = run_steps(cls(0.01), PreClipped, 20)
    for a, b in zip(clipped, manual, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6, rtol=0)


@pytest.mark.portable
@pytest.mark.parametrize("cls", [DeltaBarDelta, RMSpropNesterov])
def test_weight_decay(cls, quadratic, run_steps):
    decayed, _ = run_steps(cls(0.01, weight_decay=0.5), quadratic, 20)
    opt, variables = cls(0.01), quadratic.variables()
    for _ in range(20):  # decoupled decay w <- w - lr * wd * w before the step
        grads = quadratic.grad([v.numpy() for v in variables])
        for v in variables:
            v.assign(v.numpy() * (1 - 0.01 * 0.5))
        opt.apply([keras.ops.convert_to_tensor(g) for g in grads], variables)
    for a, b in zip(decayed, variables, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6, rtol=0)


@pytest.mark.portable
@pytest.mark.parametrize("name", ["averaged_ema", "lookahead", "block_coordinate"])
def test_wrappers_delegate_learning_rate_and_iterations(name):
    opt = FACTORIES[name]()
    opt.learning_rate = 0.125
    assert float(opt.inner_optimizer.learning_rate) == 0.125 == float(opt.learning_rate)
    model = fit(make_model(), opt, epochs=1)
    assert int(model.optimizer.iterations) == int(opt.inner_optimizer.iterations) == 5
    schedule = keras.optimizers.schedules.InverseTimeDecay(0.1, decay_steps=1, decay_rate=1.0)
    wrapped = Lookahead(keras.optimizers.SGD(schedule))
    fit(make_model(), wrapped, epochs=1)
    assert float(wrapped.learning_rate) == pytest.approx(0.1 / 6)


@pytest.mark.portable
@pytest.mark.parametrize("name", list(FACTORIES))  # trivial: every name in the default run
def test_config_round_trip(name):
    opt = FACTORIES[name]()
    config = keras.optimizers.serialize(opt)
    again = keras.optimizers.deserialize(config)
    assert type(again) is type(opt)
    assert keras.optimizers.serialize(again)["config"] == config["config"]
