"""Every picture kerasopt draws, as PNG files.

Headless-safe: figures are built with matplotlib's object-oriented API on an Agg canvas,
so nothing here touches pyplot's global backend or opens a window, and `plt.show()` is
never called. Files are written atomically (temporary name, then rename).
"""

from pathlib import Path

from kerasopt._io import atomic_path


def new_figure(nrows=1, ncols=1, figsize=(6.4, 4.8), **subplot_kw):
    """A `(figure, axes)` pair on an Agg canvas; `axes` is squeezed like pyplot's."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=True, subplot_kw=subplot_kw or None)
    return fig, axes


def save_figure(fig, path, dpi=120):
    """Write `fig` as a PNG at `path` (parents created, atomic) and return the Path."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"Argument `path` must end in .png. Received: path={str(path)!r}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return path


# Learning-rate schedules and the LR range test (issue 5)
def plot_schedule(schedule, steps, path, title=None):
    """Plot `schedule(step)` for step in [0, steps) (a schedule or a list of them) to a PNG."""
    import numpy as np

    schedules = schedule if isinstance(schedule, (list, tuple)) else [schedule]
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"Argument `steps` must be an integer >= 1. Received: steps={steps!r}")
    grid = np.arange(steps)
    fig, ax = new_figure(figsize=(6.4, 3.6))
    for sched in schedules:
        values = [float(sched(int(k))) for k in grid]
        ax.plot(grid, values, label=type(sched).__name__)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    if title:
        ax.set_title(title)
    if len(schedules) > 1:
        ax.legend()
    return save_figure(fig, path)


def plot_lr_finder(learning_rates, losses, path, smoothed_losses=None, suggestion=None):
    """Loss against learning rate (log axis) for the LR range test, with the suggestion marked.

    With smoothed losses, the loss axis spans from the lowest loss up to 1.25x the starting
    smoothed value, so the divergence at the end does not flatten the curve.
    """
    import numpy as np

    fig, ax = new_figure(figsize=(6.4, 4.0))
    ax.plot(learning_rates, losses, alpha=0.35, label="loss")
    if smoothed_losses is not None:
        ax.plot(learning_rates, smoothed_losses, label="smoothed loss")
        values = np.concatenate([np.asarray(losses, "float64"), np.asarray(smoothed_losses, "float64")])
        values = values[np.isfinite(values)]
        if values.size:
            low, start = float(values.min()), float(smoothed_losses[0])
            ax.set_ylim(low - 0.05 * abs(low), 1.25 * max(start, low))
    if suggestion is not None:
        ax.axvline(suggestion, color="C3", linestyle="--", label=f"suggestion {suggestion:.2e}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.legend()
    return save_figure(fig, path)
