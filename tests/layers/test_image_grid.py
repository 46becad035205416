"""plot_image_grid: a PNG with one panel per image, rows of different lengths allowed."""

import numpy as np
import pytest
from matplotlib.image import imread

from kerasopt.plotting import plot_image_grid

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


@pytest.mark.reference("plotting.plot_image_grid")
def test_writes_png_of_expected_size(tmp_path):
    rows = [[np.zeros((8, 8, 1))] * 3, [np.ones((8, 8, 3))]]
    path = plot_image_grid(rows, tmp_path / "grid.png", [["a", "b", "c"], ["d"]])
    image = imread(path)
    # figsize (1.3 * 3, 1.5 * 2) inches at 120 dpi
    assert image.shape[:2] == (round(3.0 * 120), round(3.9 * 120))
