"""The optimizer tour: 2-D test surfaces and trajectory runners. TensorFlow backend.

Course pictures (Goodfellow et al., Deep Learning, ch. 8): SGD zig-zagging across a narrow
valley and momentum overshooting it (sec. 8.3.2, fig. 8.5), AdaGrad's step shrinking early
(sec. 8.5.1), Newton's method jumping to the minimum of a quadratic and being drawn to a
saddle point (sec. 8.2.3, 8.6.1), which saddle-free Newton escapes (Dauphin et al. 2014).

Surfaces (each with its starting point, minimum value and plotting window):
- "quadratic": 0.5 (u^2 + 50 v^2) in coordinates rotated by 30 degrees (condition number 50);
- "rosenbrock": (1 - x)^2 + 100 (y - x^2)^2 (Rosenbrock 1960);
- "saddle": x^2 - y^2 + y^4 / 2, a saddle at the origin, minima -1/2 at (0, +-1);
- "beale": Beale's function (1958), minimum 0 at (3, 0.5).
"""

import dataclasses

import numpy as np

from kerasopt._backend import tf
from kerasopt.second_order.minimize import minimize


def _quadratic(z):
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    u = c * z[0] + s * z[1]
    v = -s * z[0] + c * z[1]
    return 0.5 * (u * u + 50.0 * v * v)


def _rosenbrock(z):
    return (1.0 - z[0]) ** 2 + 100.0 * (z[1] - z[0] ** 2) ** 2


def _saddle(z):
    return z[0] ** 2 - z[1] ** 2 + 0.5 * z[1] ** 4


def _beale(z):
    x, y = z[0], z[1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2 + (2.625 - x + x * y**3) ** 2


@dataclasses.dataclass(frozen=True)
class Surface:
    """A 2-D test function (works on NumPy arrays and TF tensors alike)."""

    fn: object
    start: tuple
    minimum: float
    window: tuple  # (xmin, xmax, ymin, ymax)


SURFACES = {
    "quadratic": Surface(_quadratic, (-4.0, 2.5), 0.0, (-5.0, 5.0, -3.5, 3.5)),
    "rosenbrock": Surface(_rosenbrock, (-1.2, 1.0), 0.0, (-2.0, 2.0, -1.0, 3.0)),
    "saddle": Surface(_saddle, (1.5, 0.02), -0.5, (-2.0, 2.0, -1.6, 1.6)),
    "beale": Surface(_beale, (1.0, 1.4), 0.0, (-1.0, 4.5, -1.5, 2.5)),
}


def keras_trajectory(optimizer, surface, steps):
    """Points visited by a Keras first-order `optimizer` on `surface` (start included), float64.

    All `steps` updates run in one compiled graph; the array has steps + 1 rows."""
    variable = tf.Variable(np.array(surface.start, np.float64))

    @tf.function
    def run():
        points = tf.TensorArray(tf.float64, size=steps + 1)
        points = points.write(0, variable.read_value())
        for i in tf.range(steps):
            with tf.GradientTape() as tape:
                loss = surface.fn(variable)
            optimizer.apply_gradients([(tape.gradient(loss, variable), variable)])
            points = points.write(i + 1, variable.read_value())
        return points.stack()

    return run().numpy()


def second_order_trajectory(method, surface, max_iterations, **options):
    """Points visited by `kerasopt.second_order.minimize(method=...)` (start included)."""
    points = [np.array(surface.start, np.float64)]
    minimize(
        surface.fn,
        np.array(surface.start, np.float64),
        method=method,
        max_iterations=max_iterations,
        callback=lambda i, x, f: points.append(x.copy()),
        **options,
    )
    return np.stack(points)


def iterations_to_tolerance(points, surface, tolerance):
    """First iteration whose loss is within `tolerance` of the surface's minimum, or None."""
    with np.errstate(over="ignore", invalid="ignore"):  # diverged runs overflow to inf/nan
        gaps = np.array([surface.fn(p) for p in points]) - surface.minimum
    hits = np.flatnonzero(np.isfinite(gaps) & (gaps <= tolerance))
    return int(hits[0]) if hits.size else None
