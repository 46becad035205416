"""Every kerasopt.plotting function draws its data, on every backend: the figure handed to
`save_figure` holds exactly the input values (or their NumPy statistics), and the PNG written
has the pixel size matplotlib's figure size and dpi give (read back with Pillow)."""

import types

import numpy as np
import pytest
from PIL import Image

from kerasopt import plotting
from kerasopt.schedules import StepDecay

pytestmark = pytest.mark.portable  # CI runs these on the JAX backend too


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plotting functions save, in order (the real save still runs)."""
    figures, save = [], plotting.save_figure

    def recording(fig, path, dpi=120):
        figures.append(fig)
        return save(fig, path, dpi=dpi)

    monkeypatch.setattr(plotting, "save_figure", recording)
    return figures


def _lines(ax):
    return [
        (np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
        for line in ax.lines
    ]


@pytest.mark.reference("plotting.new_figure", "plotting.save_figure")
def test_png_size_is_figure_size_times_dpi(tmp_path):
    fig, axes = plotting.new_figure(2, 3, figsize=(3.0, 2.0))
    assert np.asarray(axes).shape == (2, 3)
    path = plotting.save_figure(fig, tmp_path / "sub" / "grid.png", dpi=50)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (150, 100)


@pytest.mark.reference("plotting.plot_schedule")
def test_schedule_curve_is_the_closed_form(tmp_path, drawn):
    plotting.plot_schedule(StepDecay(0.5, 0.1, 4), 12, tmp_path / "s.png")
    ((x, y),) = _lines(drawn[0].axes[0])
    np.testing.assert_array_equal(x, np.arange(12))
    np.testing.assert_allclose(y, 0.5 * 0.1 ** np.floor(np.arange(12) / 4), rtol=1e-6)


@pytest.mark.reference("plotting.plot_lr_finder")
def test_lr_finder_curves_and_suggestion(tmp_path, drawn):
    lrs = np.geomspace(1e-4, 1.0, 9)
    losses, smoothed = (np.log10(lrs) + 2) ** 2, (np.log10(lrs) + 2) ** 2 + 0.1
    plotting.plot_lr_finder(lrs, losses, tmp_path / "lr.png", smoothed, suggestion=1e-3)
    ax = drawn[0].axes[0]
    (x0, y0), (x1, y1), (xs, _) = _lines(ax)
    np.testing.assert_allclose(x0, lrs)
    np.testing.assert_allclose(y0, losses)
    np.testing.assert_allclose(y1, smoothed)
    np.testing.assert_allclose(xs, [1e-3, 1e-3])  # the suggestion's vertical line
    assert ax.get_xscale() == "log"
    # the loss axis: from just below the lowest loss to 1.25x the first smoothed loss
    assert ax.get_ylim() == pytest.approx((-0.0, 1.25 * smoothed[0]))


@pytest.mark.reference("plotting.plot_training_curves")
def test_training_curves_are_the_history(tmp_path, drawn):
    history = {"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.7, 0.6], "accuracy": [0.5, 0.7, 0.8]}
    plotting.plot_training_curves(history, tmp_path / "c.png", phase_starts={"finetune": 2})
    loss_ax, acc_ax = drawn[0].axes
    (x, train), (_, val), (phase, _) = _lines(loss_ax)
    np.testing.assert_array_equal(x, [1, 2, 3])
    np.testing.assert_allclose(train, history["loss"])
    np.testing.assert_allclose(val, history["val_loss"])
    np.testing.assert_allclose(phase, [2.5, 2.5])  # between the last head and first fine-tune epoch
    np.testing.assert_allclose(_lines(acc_ax)[0][1], history["accuracy"])


@pytest.mark.reference("plotting.plot_confusion_matrix")
def test_confusion_matrix_image_and_counts(tmp_path, drawn):
    matrix = np.array([[66, 4, 0], [5, 78, 2], [1, 0, 9]])
    plotting.plot_confusion_matrix(matrix, ["a", "b", "c"], tmp_path / "cm.png")
    ax = drawn[0].axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), matrix)
    assert [t.get_text() for t in ax.texts] == [str(v) for v in matrix.ravel()]


@pytest.mark.reference("plotting.plot_image_grid")
def test_image_grid_shows_each_image(tmp_path, drawn):
    rng = np.random.default_rng(0)
    rows = [[rng.uniform(size=(5, 6)), rng.uniform(size=(5, 6, 1))], [rng.uniform(size=(5, 6, 3))]]
    plotting.plot_image_grid(rows, tmp_path / "g.png")
    shown = [ax.images[0].get_array() for ax in drawn[0].axes if ax.images]
    expected = [rows[0][0], rows[0][1][..., 0], rows[1][0]]
    for got, want in zip(shown, expected, strict=True):
        np.testing.assert_allclose(np.asarray(got), want)


@pytest.mark.reference("plotting.plot_filters")
def test_filters_are_the_weight_columns_on_symmetric_scales(tmp_path, drawn):
    weights = np.random.default_rng(1).normal(size=(12, 5))
    plotting.plot_filters(weights, tmp_path / "f.png", image_shape=(3, 4), n_filters=5, ncols=3)
    shown = [ax.images[0] for ax in drawn[0].axes if ax.images]
    assert len(shown) == 5
    for i, image in enumerate(shown):
        np.testing.assert_allclose(np.asarray(image.get_array()), weights[:, i].reshape(3, 4))
        limit = np.abs(weights[:, i]).max()
        assert image.get_clim() == pytest.approx((-limit, limit))


@pytest.mark.reference("plotting.plot_scale_report")
def test_scale_report_panels_are_the_report(tmp_path, drawn):
    report = [
        {"layer": "d1", "mean": 0.1, "std": 0.9, "dead_fraction": 0.2, "saturated_fraction": None,
         "grad_std": 0.01, "kernel_grad_std": 0.02},
        {"layer": "d2", "mean": -0.2, "std": 0.5, "dead_fraction": None, "saturated_fraction": 0.3,
         "grad_std": 0.03, "kernel_grad_std": None},
    ]  # fmt: skip
    plotting.plot_scale_report(report, tmp_path / "r.png")
    top, bars, grads = drawn[0].axes
    (_, mean), (_, std) = _lines(top)
    np.testing.assert_allclose(mean, [0.1, -0.2])
    np.testing.assert_allclose(std, [0.9, 0.5])
    heights = [p.get_height() for p in bars.patches]
    np.testing.assert_allclose(heights, [0.2, np.nan, np.nan, 0.3])
    (_, g), (_, kg) = _lines(grads)
    np.testing.assert_allclose(g, [0.01, 0.03])
    np.testing.assert_allclose(kg, [0.02, np.nan])
    assert grads.get_yscale() == "log"


@pytest.mark.reference("plotting.plot_optimizer_tour")
def test_tour_draws_each_trajectory_on_its_surface(tmp_path, drawn):
    bowl = types.SimpleNamespace(fn=lambda p: p[0] ** 2 + p[1] ** 2, window=(-1, 1, -1, 1))
    gd = np.array([[0.8, 0.8], [0.4, 0.4], [0.0, 0.0]])
    newton = np.array([[0.8, -0.5], [0.0, 0.0]])
    plotting.plot_optimizer_tour(
        {"bowl": bowl}, {"bowl": {"gd": gd, "newton": newton}},
        {"first": ["gd"], "second": ["newton"]}, tmp_path / "t.png",
    )  # fmt: skip
    first, second = drawn[0].axes
    for ax, points in ((first, gd), (second, newton)):
        (x, y), *_ = _lines(ax)
        np.testing.assert_allclose(x, points[:, 0])
        np.testing.assert_allclose(y, points[:, 1])


@pytest.mark.reference("plotting.plot_curriculum")
def test_curriculum_curves_bands_and_pools(tmp_path, drawn):
    curves = {"curriculum": ([0.5, 0.7], [0.01, 0.02]), "random": ([0.4, 0.6], [0.0, 0.01])}
    pools = {"curriculum": ([0.2, 1.0], [0.0, 0.4]), "random": ([1.0, 1.0], [0.4, 0.4])}
    plotting.plot_curriculum(curves, pools, tmp_path / "cur.png")
    left, right = drawn[0].axes
    for (x, y), (mean, _) in zip(_lines(left), curves.values(), strict=True):
        np.testing.assert_array_equal(x, [1, 2])
        np.testing.assert_allclose(y, mean)
    band = left.collections[0].get_paths()[0].vertices[:, 1]  # mean +- sd of the first arm
    assert {round(v, 6) for v in band} >= {0.49, 0.51, 0.68, 0.72}
    expected = [v for share, noisy in pools.values() for v in (share, noisy)]
    for (_, y), want in zip(_lines(right), expected, strict=True):
        np.testing.assert_allclose(y, want)


@pytest.mark.reference("plotting.plot_search_rounds")
def test_search_rounds_scatter_each_round(tmp_path, drawn):
    rows = [
        {"round": 0, "score": 0.9, "lr": 1e-3, "wd": 1e-4},
        {"round": 0, "score": 0.8, "lr": 1e-2},
        {"round": 1, "score": 0.5, "lr": 3e-3, "wd": 3e-4},
    ]
    plotting.plot_search_rounds(rows, ["lr", "wd"], tmp_path / "sr.png", log_axes=["lr"])
    lr_ax, wd_ax = drawn[0].axes
    offsets = [c.get_offsets().tolist() for c in lr_ax.collections]
    assert offsets == [[[1e-3, 0.9], [1e-2, 0.8]], [[3e-3, 0.5]]]
    assert [c.get_offsets().tolist() for c in wd_ax.collections] == [[[1e-4, 0.9]], [[3e-4, 0.5]]]
    assert lr_ax.get_xscale() == "log" and wd_ax.get_xscale() == "linear"


@pytest.mark.reference("plotting.plot_search_comparison")
def test_search_comparison_boxes_and_points(tmp_path, drawn):
    distances = {"random": [0.4, 0.3, 0.9, 0.1], "coarse_to_fine": [0.2, 0.5, 0.25]}
    plotting.plot_search_comparison(distances, tmp_path / "box.png")
    ax = drawn[0].axes[0]
    points = [c.get_offsets() for c in ax.collections]
    for (method, values), pts, i in zip(distances.items(), points, (1, 2), strict=True):
        np.testing.assert_allclose(pts[:, 1], values)
        assert np.all(np.abs(pts[:, 0] - i) <= 0.12)
        # the box's median line is NumPy's median
        horizontal = [  # the caps and the median: short horizontal segments of box i
            line.get_ydata()[0]
            for line in ax.lines
            if len(line.get_xdata()) == 2
            and abs(np.mean(line.get_xdata()) - i) < 1e-9
            and line.get_xdata()[0] != line.get_xdata()[1]
        ]
        assert np.median(values) in horizontal, (method, horizontal)
