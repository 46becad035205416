"""A random separable quadratic for the update-rule tests, and a loop that steps an
optimizer on it with float64 variables."""

import keras
import numpy as np
import pytest


class Quadratic:
    """loss = sum over two variables (shapes (3, 4) and (5,)) of 0.5 * a * w^2 + b * w.

    Curvatures a span [0.5, 20], so a rate that suits the flat coordinates overshoots on
    the steep ones: gradient signs both persist and flip.
    """

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        shapes = [(3, 4), (5,)]
        self.a = [rng.uniform(0.5, 20.0, s) for s in shapes]
        self.b = [rng.normal(size=s) for s in shapes]
        self.initial = [rng.normal(size=s) for s in shapes]

    def grad(self, ws):
        return [a * w + b for a, b, w in zip(self.a, self.b, ws, strict=True)]

    def variables(self):
        return [
            keras.Variable(w.copy(), dtype="float64", name=f"w{i}")
            for i, w in enumerate(self.initial)
        ]


@pytest.fixture
def quadratic(float64_on_jax):
    return Quadratic()


@pytest.fixture
def float64_on_jax():
    """The update-rule tests compare float64 variables with NumPy: JAX needs x64 for that
    (only for the tests that use the quadratic; the others run in JAX's default 32 bits)."""
    if keras.backend.backend() != "jax":
        yield
        return
    import jax

    with jax.enable_x64(True):
        yield


@pytest.fixture
def run_steps(float64_on_jax):
    """run_steps(optimizer, problem, steps) -> (variables, list of stored values after each
    step). The gradient is evaluated at the stored variables."""

    def run(optimizer, problem, steps):
        variables = problem.variables()
        history = []
        for _ in range(steps):
            grads = problem.grad([v.numpy() for v in variables])
            optimizer.apply([keras.ops.convert_to_tensor(g) for g in grads], variables)
            history.append([v.numpy().copy() for v in variables])
        return variables, history

    return run
