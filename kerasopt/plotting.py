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


# pretraining (RBM / DBN): first-layer filters
def plot_filters(weights, path, image_shape, n_filters=64, ncols=8, title=None):
    """Save the first `n_filters` columns of `weights` (n_visible, n_hidden), e.g. an RBM's
    kernel, as a grid of `image_shape` images, each on its own symmetric grey scale."""
    import numpy as np

    weights = np.asarray(weights)
    if weights.ndim != 2 or int(np.prod(image_shape)) != weights.shape[0]:
        raise ValueError(
            f"Argument `weights` must be 2-D with {int(np.prod(image_shape))} rows for image_shape={tuple(image_shape)}. "
            f"Received: weights with shape {weights.shape}"
        )
    n = min(n_filters, weights.shape[1])
    nrows = -(-n // ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(1.1 * ncols, 1.1 * nrows + (0.4 if title else 0)))
    for i, ax in enumerate(np.ravel(axes)):
        ax.set_axis_off()
        if i < n:
            image = weights[:, i].reshape(image_shape)
            limit = float(np.abs(image).max()) or 1.0
            ax.imshow(image, cmap="gray", vmin=-limit, vmax=limit)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
