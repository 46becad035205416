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


# Second-order methods and the optimizer tour (kerasopt.second_order)
def plot_optimizer_tour(surfaces, trajectories, groups, path, levels=30):
    """Contours of each 2-D surface with every optimizer's trajectory; one row per group.

    Args:
        surfaces: {name: object with `fn` (NumPy-callable on a (2, ...) grid) and `window`
            (xmin, xmax, ymin, ymax)}.
        trajectories: {surface name: {optimizer name: (k, 2) array of points}}.
        groups: {row title: [optimizer names]} (e.g. first-order / second-order).
        path: the PNG to write.
    """
    import numpy as np

    names = list(surfaces)
    fig, axes = new_figure(len(groups), len(names), figsize=(4.2 * len(names), 4.0 * len(groups)))
    axes = np.asarray(axes).reshape(len(groups), len(names))
    colors = {}
    palette = [f"C{i}" for i in range(10)] + ["black", "saddlebrown", "olive", "teal", "navy"]
    for row, (title, members) in enumerate(groups.items()):
        for col, name in enumerate(names):
            ax = axes[row, col]
            xmin, xmax, ymin, ymax = surfaces[name].window
            gx, gy = np.meshgrid(np.linspace(xmin, xmax, 200), np.linspace(ymin, ymax, 200))
            z = surfaces[name].fn(np.stack([gx, gy]))
            z = np.log1p(z - z.min())  # log scale shows valleys and saddles alike
            ax.contour(gx, gy, z, levels=levels, cmap="Greys", linewidths=0.6)
            for member in members:
                points = trajectories[name].get(member)
                if points is None:
                    continue
                color = colors.setdefault(member, palette[len(colors) % len(palette)])
                ax.plot(points[:, 0], points[:, 1], "-", color=color, lw=1.2, marker=".", ms=2.5, label=member)
            ax.plot(*points[0], "k*", ms=9)
            ax.set_xlim(xmin, xmax)
            ax.set_ylim(ymin, ymax)
            ax.set_title(f"{name}: {title}", fontsize=10)
            if col == 0:
                ax.legend(fontsize=7, loc="lower left")
    return save_figure(fig, path)
