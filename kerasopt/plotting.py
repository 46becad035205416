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


# --- regularization and augmentation layers (issue 6) ---
def plot_image_grid(rows, path, titles=None, cmap="gray"):
    """Save a grid of images: `rows` is a list of lists of (H, W) or (H, W, C) arrays.

    Rows may differ in length; `titles`, if given, has the same nested shape (short strings).
    Used to show augmented samples and test-time views side by side.
    """
    import numpy as np

    ncols = max(len(r) for r in rows)
    fig, axes = new_figure(len(rows), ncols, figsize=(1.3 * ncols, 1.5 * len(rows)))
    axes = np.asarray(axes, dtype=object).reshape(len(rows), ncols)
    for r, images in enumerate(rows):
        for c in range(ncols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(images):
                image = images[c]
                ax.imshow(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image, cmap=cmap)
                if titles:
                    ax.set_title(titles[r][c], fontsize=8)
    return save_figure(fig, path)
