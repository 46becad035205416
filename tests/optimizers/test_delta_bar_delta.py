import keras
import numpy as np
import pytest

from kerasopt.optimizers import DeltaBarDelta

pytestmark = pytest.mark.portable


def numpy_delta_bar_delta(problem, steps, lr, kappa, phi, theta, lr_at=None):
    """Jacobs (1988), as stated in the issue; `lr_at(t)` scales the rates (schedule)."""
    ws = [w.copy() for w in problem.initial]
    eps = [np.full_like(w, lr) for w in ws]
    dbar = [np.zeros_like(w) for w in ws]
    flips = grows = 0
    for t in range(steps):
        scale = 1.0 if lr_at is None else lr_at(t) / lr
        for i, g in enumerate(problem.grad(ws)):
            agree = g * dbar[i]
            grows += int((agree > 0).sum())
            flips += int((agree < 0).sum())
            # Under a schedule the additive step is kappa at the current rate scale.
            eps[i] = np.where(
                agree > 0, eps[i] + kappa / scale, np.where(agree < 0, eps[i] * (1 - phi), eps[i])
            )
            ws[i] = ws[i] - scale * eps[i] * g
            dbar[i] = (1 - theta) * g + theta * dbar[i]
    return ws, eps, flips, grows


@pytest.mark.reference("optimizers.DeltaBarDelta")
def test_matches_numpy_rule(quadratic, run_steps):
    kwargs = dict(kappa=0.002, phi=0.2, theta=0.6)
    opt = DeltaBarDelta(learning_rate=0.05, **kwargs)
    variables, _ = run_steps(opt, quadratic, 30)
    ws, eps, flips, grows = numpy_delta_bar_delta(quadratic, 30, 0.05, **kwargs)
    assert flips > 0 and grows > 0  # both branches of the rule were exercised
    for v, w in zip(variables, ws, strict=True):
        np.testing.assert_allclose(v.numpy(), w, atol=1e-6, rtol=0)
    for gain, e in zip(opt._gains, eps, strict=True):
        np.testing.assert_allclose(0.05 * gain.numpy(), e, atol=1e-6, rtol=0)


def test_schedule_scales_the_rates(quadratic, run_steps):
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=5, decay_rate=0.5)
    variables, _ = run_steps(DeltaBarDelta(learning_rate=schedule, kappa=0.002), quadratic, 25)
    ws, *_ = numpy_delta_bar_delta(
        quadratic, 25, 0.05, 0.002, 0.1, 0.7, lr_at=lambda t: 0.05 * 0.5 ** (t / 5)
    )
    for v, w in zip(variables, ws, strict=True):
        np.testing.assert_allclose(v.numpy(), w, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "name, value",
    [("phi", 1.0), ("phi", -0.1), ("theta", 1.0), ("kappa", -1e-3), ("learning_rate", 0.0)],
)
def test_argument_validation(name, value):
    with pytest.raises(ValueError, match=f"`{name}`.*{name}={value}"):
        DeltaBarDelta(**{name: value})


def test_config_round_trip():
    opt = DeltaBarDelta(learning_rate=0.02, kappa=0.01, phi=0.3, theta=0.5, clipnorm=1.0)
    again = DeltaBarDelta.from_config(opt.get_config())
    assert again.get_config() == opt.get_config()
