"""The tour's surfaces and trajectory runners against closed forms and a NumPy restatement."""

import keras
import numpy as np
import pytest

from kerasopt.second_order import tour

MINIMIZERS = {
    "quadratic": [(0.0, 0.0)],
    "rosenbrock": [(1.0, 1.0)],
    "saddle": [(0.0, 1.0), (0.0, -1.0)],
    "beale": [(3.0, 0.5)],
}


@pytest.mark.parametrize("name", list(tour.SURFACES))
def test_surfaces_have_their_stated_minimum(name):
    surface = tour.SURFACES[name]
    for point in MINIMIZERS[name]:
        assert surface.fn(np.array(point)) == pytest.approx(surface.minimum, abs=1e-12)
    # The stated minimum is a lower bound on a grid over the plotting window.
    xmin, xmax, ymin, ymax = surface.window
    grid = np.stack(np.meshgrid(np.linspace(xmin, xmax, 301), np.linspace(ymin, ymax, 301)))
    assert surface.fn(grid).min() >= surface.minimum - 1e-9


def test_keras_trajectory_is_plain_gradient_descent_for_sgd():
    surface = tour.SURFACES["quadratic"]
    points = tour.keras_trajectory(keras.optimizers.SGD(0.01), surface, 5)
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    rotation = np.array([[c, s], [-s, c]])
    hessian = rotation.T @ np.diag([1.0, 50.0]) @ rotation
    z = np.array(surface.start)
    expected = [z]
    for _ in range(5):
        z = z - 0.01 * hessian @ z
        expected.append(z)
    np.testing.assert_allclose(points, np.array(expected), rtol=1e-6)


def test_saddle_free_newton_escapes_where_newton_stops():
    surface = tour.SURFACES["saddle"]
    newton = tour.second_order_trajectory("newton", surface, 50, gtol=1e-10)
    sfn = tour.second_order_trajectory("saddle_free_newton", surface, 50, gtol=1e-10)
    assert tour.iterations_to_tolerance(newton, surface, 1e-6) is None
    assert np.linalg.norm(newton[-1]) < 1e-6
    assert tour.iterations_to_tolerance(sfn, surface, 1e-6) is not None
