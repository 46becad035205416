import keras
import numpy as np
import pytest

from kerasopt.optimizers import RMSpropNesterov

pytestmark = pytest.mark.portable


def numpy_algorithm_8_6(problem, steps, lr_at, rho, alpha, epsilon):
    """Goodfellow et al., Algorithm 8.6, on theta, with the gradient at the interim point."""
    theta = [w.copy() for w in problem.initial]
    r = [np.zeros_like(w) for w in theta]
    v = [np.zeros_like(w) for w in theta]
    for t in range(steps):
        interim = [th + alpha * vi for th, vi in zip(theta, v, strict=True)]
        for i, g in enumerate(problem.grad(interim)):
            r[i] = rho * r[i] + (1 - rho) * g * g
            v[i] = alpha * v[i] - lr_at(t) * g / (np.sqrt(r[i]) + epsilon)
            theta[i] = theta[i] + v[i]
    return theta, v


@pytest.mark.parametrize("scheduled", [False, True])
@pytest.mark.reference("optimizers.RMSpropNesterov")
def test_stores_the_look_ahead_point_of_algorithm_8_6(quadratic, run_steps, scheduled):
    if scheduled:
        lr = keras.optimizers.schedules.PiecewiseConstantDecay([10], [0.03, 0.01])
        lr_at = lambda t: 0.03 if t <= 10 else 0.01  # noqa: E731
    else:
        lr, lr_at = 0.03, (lambda t: 0.03)
    opt = RMSpropNesterov(learning_rate=lr, rho=0.8, momentum=0.7, epsilon=1e-6)
    variables, _ = run_steps(opt, quadratic, 25)
    theta, v = numpy_algorithm_8_6(quadratic, 25, lr_at, 0.8, 0.7, 1e-6)
    for var, th, vi, slot in zip(variables, theta, v, opt._velocities, strict=True):
        np.testing.assert_allclose(slot.numpy(), vi, atol=1e-6, rtol=0)
        # stored = theta + alpha * v; the algorithm's theta = stored - alpha * v.
        np.testing.assert_allclose(var.numpy(), th + 0.7 * vi, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "name, value", [("rho", 1.0), ("momentum", 1.0), ("momentum", -0.5), ("epsilon", 0.0)]
)
def test_argument_validation(name, value):
    with pytest.raises(ValueError, match=f"`{name}`.*{name}={value}"):
        RMSpropNesterov(**{name: value})
