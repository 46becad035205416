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


# transfer learning (kerasopt.transfer): training curves over the fine-tuning phases, confusion matrix
def plot_training_curves(history, path, phase_starts=None, title=None):
    """Loss and accuracy per epoch (train and validation), one panel each, as a PNG.

    history: dict of Keras metric name -> list of per-epoch values over all phases (e.g. "loss",
    "val_loss", "accuracy", "val_accuracy"). phase_starts: dict of phase name -> index of its
    first epoch; each start gets a dashed vertical line and a label.
    """
    fig, axes = new_figure(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            values = history.get(key)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, marker="o", ms=3, label=key)
        for name, start in (phase_starts or {}).items():
            ax.axvline(start + 0.5, color="grey", ls=":", lw=1)
            ax.text(start + 0.6, 0.98, name, transform=ax.get_xaxis_transform(), va="top", fontsize=8)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_confusion_matrix(matrix, class_names, path, title=None):
    """A confusion matrix (rows: true class, columns: predicted class) with counts, as a PNG."""
    import numpy as np

    matrix = np.asarray(matrix)
    n = len(class_names)
    fig, ax = new_figure(figsize=(1.2 + 0.6 * n, 1.0 + 0.6 * n) if n > 6 else (4.5, 4))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    peak = matrix.max() if matrix.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if matrix[i, j] > peak / 2 else "black")
    if title:
        ax.set_title(title)
    return save_figure(fig, path)
