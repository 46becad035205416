import keras
import numpy as np
import pytest

from kerasopt.optimizers import Lookahead

pytestmark = pytest.mark.portable


def numpy_lookahead_sgd(problem, steps, lr, momentum, k, alpha):
    """Zhang et al. (2019), Algorithm 1, with SGD+momentum (Keras' rule) as inner optimizer."""
    fast = [w.copy() for w in problem.initial]
    slow = [w.copy() for w in problem.initial]
    m = [np.zeros_like(w) for w in fast]
    for t in range(1, steps + 1):
        for i, g in enumerate(problem.grad(fast)):
            m[i] = momentum * m[i] - lr * g
            fast[i] = fast[i] + m[i]
        if t % k == 0:
            slow = [s + alpha * (f - s) for s, f in zip(slow, fast, strict=True)]
            fast = [s.copy() for s in slow]
    return fast, slow


@pytest.mark.reference("optimizers.Lookahead")
def test_matches_numpy_rule(quadratic, run_steps):
    opt = Lookahead(keras.optimizers.SGD(0.03, momentum=0.6), sync_period=4, slow_step_size=0.3)
    variables, _ = run_steps(opt, quadratic, 26)
    fast, slow = numpy_lookahead_sgd(quadratic, 26, 0.03, 0.6, 4, 0.3)
    for v, s, f, e in zip(variables, opt._slow, fast, slow, strict=True):
        np.testing.assert_allclose(v.numpy(), f, atol=1e-6, rtol=0)
        np.testing.assert_allclose(s.numpy(), e, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "name, value, error",
    [
        ("sync_period", 0, ValueError),
        ("sync_period", 2.5, TypeError),
        ("slow_step_size", 0.0, ValueError),
        ("slow_step_size", 1.5, ValueError),
    ],
)
def test_argument_validation(name, value, error):
    with pytest.raises(error, match=f"`{name}`.*{name}={value}"):
        Lookahead(keras.optimizers.SGD(), **{name: value})
