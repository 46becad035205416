"""Every picture kerasopt draws, as PNG files.

Headless-safe: figures are built with matplotlib's object-oriented API on an Agg canvas,
so nothing here touches pyplot's global backend or opens a window, and `plt.show()` is
never called. Files are written atomically (temporary name, then rename).
"""

from pathlib import Path

from kerasopt._io import atomic_path
from kerasopt._validation import check_int

__all__ = [
    "new_figure",
    "save_figure",
    "plot_scale_report",
    "plot_image_grid",
    "plot_schedule",
    "plot_lr_finder",
    "plot_filters",
    "plot_training_curves",
    "plot_confusion_matrix",
    "plot_optimizer_tour",
    "plot_curriculum",
    "plot_search_rounds",
    "plot_search_comparison",
]


def new_figure(nrows=1, ncols=1, figsize=(6.4, 4.8), **subplot_kw):
    """A `(figure, axes)` pair on an Agg canvas; `axes` is squeezed like pyplot's.

    Example:
        >>> from kerasopt.plotting import new_figure
        >>> fig, axes = new_figure(1, 2)
        >>> len(axes), type(fig.canvas).__name__  # no window: an Agg canvas
        (2, 'FigureCanvasAgg')
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=True, subplot_kw=subplot_kw or None)
    return fig, axes


def save_figure(fig, path, dpi=120):
    """Write `fig` as a PNG at `path` (parents created, atomic) and return the Path.

    Example:
        >>> import tempfile
        >>> from kerasopt.plotting import new_figure, save_figure
        >>> fig, ax = new_figure()
        >>> _ = ax.plot([0, 1], [1, 0])
        >>> path = save_figure(fig, tempfile.mkdtemp() + "/sub/line.png")  # parent folders created
        >>> open(path, "rb").read(4)[1:]  # a PNG file
        b'PNG'
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"Argument `path` must end in .png. Received: path={str(path)!r}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return path


# initializers: the scale report of kerasopt.diagnostics.scale_report
def plot_scale_report(report, path, title="Scale report"):
    """Per-layer activation std (with mean), dead/saturated fractions and, when present,
    gradient std (log scale), from `kerasopt.diagnostics.scale_report`; a PNG at `path`.

    Example:
        >>> import tempfile, keras, numpy as np
        >>> from kerasopt.diagnostics import scale_report
        >>> from kerasopt.plotting import plot_scale_report
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh")])
        >>> report = scale_report(model, np.ones((16, 4), "float32"))
        >>> path = plot_scale_report(report, tempfile.mkdtemp() + "/scale.png")
        >>> open(path, "rb").read(4)[1:]  # a PNG file
        b'PNG'
    """
    if not report:
        raise ValueError(
            f"Argument `report` must be a non-empty scale report. Received: report={report!r}"
        )
    has_grad = "grad_std" in report[0]
    fig, axes = new_figure(
        3 if has_grad else 2, 1, figsize=(max(6.4, 0.35 * len(report)), 8 if has_grad else 5.6)
    )
    idx = list(range(len(report)))
    names = [row["layer"] for row in report]
    axes[0].plot(idx, [r["mean"] for r in report], "o-", label="mean")
    axes[0].plot(idx, [r["std"] for r in report], "s-", label="std")
    axes[0].set_ylabel("activation")
    axes[0].legend(loc="best")
    axes[0].set_title(title)
    dead = [r["dead_fraction"] if r["dead_fraction"] is not None else float("nan") for r in report]
    sat = [
        r["saturated_fraction"] if r["saturated_fraction"] is not None else float("nan")
        for r in report
    ]
    axes[1].bar([i - 0.2 for i in idx], dead, width=0.4, label="dead ReLU units")
    axes[1].bar([i + 0.2 for i in idx], sat, width=0.4, label="saturated values")
    axes[1].set_ylim(0, 1)
    axes[1].set_ylabel("fraction")
    axes[1].legend(loc="best")
    if has_grad:
        nan = float("nan")
        axes[2].semilogy(
            idx,
            [nan if r["grad_std"] is None else r["grad_std"] for r in report],
            "o-",
            label="d loss / d output",
        )
        kg = [nan if r["kernel_grad_std"] is None else r["kernel_grad_std"] for r in report]
        axes[2].semilogy(idx, kg, "s--", label="d loss / d kernel")
        axes[2].set_ylabel("gradient std")
        axes[2].legend(loc="best")
    for ax in axes:
        ax.set_xlim(-0.5, len(report) - 0.5)
        ax.set_xticks(idx)
        ax.set_xticklabels([])
    axes[-1].set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    return save_figure(fig, path)


# regularization and augmentation layers: views of augmented images
def plot_image_grid(rows, path, titles=None, cmap="gray"):
    """Save a grid of images: `rows` is a list of lists of (H, W) or (H, W, C) arrays.

    Rows may differ in length; `titles`, if given, has the same nested shape (short strings).
    Used to show augmented samples and test-time views side by side.

    Example:
        >>> import tempfile, numpy as np
        >>> from kerasopt.plotting import plot_image_grid
        >>> rows = [[np.zeros((8, 8)), np.ones((8, 8))], [np.eye(8)]]
        >>> path = plot_image_grid(rows, tempfile.mkdtemp() + "/grid.png", titles=[["0", "1"], ["eye"]])
        >>> open(path, "rb").read(4)[1:]  # a PNG file
        b'PNG'
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
                ax.imshow(
                    image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image, cmap=cmap
                )
                if titles:
                    ax.set_title(titles[r][c], fontsize=8)
    return save_figure(fig, path)


# learning-rate schedules and the LR range test
def plot_schedule(schedule, steps, path, title=None):
    """Plot `schedule(step)` for step in [0, steps) (a schedule or a list of them) to a PNG.

    Example:
        >>> import tempfile
        >>> from kerasopt.plotting import plot_schedule
        >>> from kerasopt.schedules import OneCycle, StepDecay
        >>> path = plot_schedule([OneCycle(0.1, 100), StepDecay(0.1, 0.5, 25)], 100,
        ...                      tempfile.mkdtemp() + "/schedules.png")
        >>> open(path, "rb").read(4)[1:]  # a PNG file
        b'PNG'
    """
    import numpy as np

    schedules = schedule if isinstance(schedule, (list, tuple)) else [schedule]
    check_int("steps", steps, minimum=1)
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

    Example:
        >>> import tempfile, numpy as np
        >>> from kerasopt.plotting import plot_lr_finder
        >>> lrs = np.geomspace(1e-4, 1.0, 20)
        >>> path = plot_lr_finder(lrs, (np.log10(lrs) + 2) ** 2, tempfile.mkdtemp() + "/lr.png", suggestion=1e-3)
        >>> open(path, "rb").read(4)[1:]  # a PNG file
        b'PNG'
    """
    import numpy as np

    fig, ax = new_figure(figsize=(6.4, 4.0))
    ax.plot(learning_rates, losses, alpha=0.35, label="loss")
    if smoothed_losses is not None:
        ax.plot(learning_rates, smoothed_losses, label="smoothed loss")
        values = np.concatenate(
            [np.asarray(losses, "float64"), np.asarray(smoothed_losses, "float64")]
        )
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


# pretraining (RBM / DBN): first-layer filters
def plot_filters(weights, path, image_shape, n_filters=64, ncols=8, title=None):
    """Save the first `n_filters` columns of `weights` (n_visible, n_hidden), e.g. an RBM's
    kernel, as a grid of `image_shape` images, each on its own symmetric grey scale.

    Example:
        >>> import tempfile, numpy as np
        >>> from kerasopt.plotting import plot_filters
        >>> weights = np.random.default_rng(0).normal(size=(64, 16))  # 16 filters of 8x8 inputs
        >>> path = plot_filters(weights, tempfile.mkdtemp() + "/filters.png", image_shape=(8, 8), n_filters=16)
        >>> open(path, "rb").read(4)[1:]  # a PNG file
        b'PNG'
    """
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


# transfer learning (kerasopt.transfer): training curves over the fine-tuning phases, confusion matrix
def plot_training_curves(history, path, phase_starts=None, title=None):
    """Loss and accuracy per epoch (train and validation), one panel each, as a PNG.

    history: dict of Keras metric name -> list of per-epoch values over all phases (e.g. "loss",
    "val_loss", "accuracy", "val_accuracy"). phase_starts: dict of phase name -> index of its
    first epoch; each start gets a dashed vertical line and a label.

    Example:
        >>> import tempfile
        >>> from kerasopt.plotting import plot_training_curves
        >>> history = {"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.7, 0.6],
        ...            "accuracy": [0.5, 0.7, 0.8], "val_accuracy": [0.5, 0.6, 0.7]}
        >>> path = plot_training_curves(history, tempfile.mkdtemp() + "/curves.png", phase_starts={"finetune": 2})
        >>> open(path, "rb").read(4)[1:]  # a PNG file
        b'PNG'
    """
    fig, axes = new_figure(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            values = history.get(key)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, marker="o", ms=3, label=key)
        for name, start in (phase_starts or {}).items():
            ax.axvline(start + 0.5, color="grey", ls=":", lw=1)
            ax.text(
                start + 0.6, 0.98, name, transform=ax.get_xaxis_transform(), va="top", fontsize=8
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_confusion_matrix(matrix, class_names, path, title=None):
    """A confusion matrix (rows: true class, columns: predicted class) with counts, as a PNG.

    Example:
        >>> import tempfile
        >>> from kerasopt.plotting import plot_confusion_matrix
        >>> path = plot_confusion_matrix([[66, 4], [5, 78]], ["ants", "bees"], tempfile.mkdtemp() + "/cm.png")
        >>> open(path, "rb").read(4)[1:]  # a PNG file
        b'PNG'
    """
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
            ax.text(
                j,
                i,
                str(matrix[i, j]),
                ha="center",
                va="center",
                color="white" if matrix[i, j] > peak / 2 else "black",
            )
    if title:
        ax.set_title(title)
    return save_figure(fig, path)


# Second-order methods and the optimizer tour (kerasopt.second_order)
def plot_optimizer_tour(surfaces, trajectories, groups, path, levels=30):
    """Contours of each 2-D surface with every optimizer's trajectory; one row per group.

    Args:
        surfaces: {name: object with `fn` (NumPy-callable on a (2, ...) grid) and `window`
            (xmin, xmax, ymin, ymax)}.
        trajectories: {surface name: {optimizer name: (k, 2) array of points}}.
        groups: {row title: [optimizer names]} (e.g. first-order / second-order).
        path: the PNG to write.

    Example:
        >>> import tempfile, types, numpy as np
        >>> from kerasopt.plotting import plot_optimizer_tour
        >>> bowl = types.SimpleNamespace(fn=lambda p: p[0] ** 2 + p[1] ** 2, window=(-1, 1, -1, 1))
        >>> path_pts = np.array([[0.8, 0.8], [0.4, 0.4], [0.0, 0.0]])
        >>> path = plot_optimizer_tour({"bowl": bowl}, {"bowl": {"gd": path_pts}}, {"first-order": ["gd"]},
        ...                            tempfile.mkdtemp() + "/tour.png")
        >>> open(path, "rb").read(4)[1:]  # a PNG file
        b'PNG'
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
                ax.plot(
                    points[:, 0],
                    points[:, 1],
                    "-",
                    color=color,
                    lw=1.2,
                    marker=".",
                    ms=2.5,
                    label=member,
                )
            ax.plot(*points[0], "k*", ms=9)
            ax.set_xlim(xmin, xmax)
            ax.set_ylim(ymin, ymax)
            ax.set_title(f"{name}: {title}", fontsize=10)
            if col == 0:
                ax.legend(fontsize=7, loc="lower left")
    return save_figure(fig, path)


# curriculum: held-out accuracy per epoch and the pool's make-up, one line per order
def plot_curriculum(curves, pools, path, title=None):
    """Two panels: held-out accuracy per epoch (mean, with a ±sd band over seeds) of each
    arm, and each arm's pool: its share of the data and the share of noisy labels in it.

    Args:
        curves: dict arm -> (mean list, sd list) per epoch.
        pools: dict arm -> (pool share list, noisy share list) per epoch.
        path: the PNG file to write.
        title: optional figure title.

    Returns:
        `path`, written atomically.

    Example:
        >>> import tempfile
        >>> from kerasopt.plotting import plot_curriculum
        >>> curves = {"curriculum": ([0.5, 0.7], [0.01, 0.02]), "random": ([0.4, 0.6], [0.0, 0.01])}
        >>> pools = {"curriculum": ([0.2, 1.0], [0.0, 0.4]), "random": ([1.0, 1.0], [0.4, 0.4])}
        >>> path = plot_curriculum(curves, pools, tempfile.mkdtemp() + "/curves.png")
        >>> open(path, "rb").read(4)[1:]  # a PNG file
        b'PNG'
    """
    import numpy as np

    fig, (left, right) = new_figure(1, 2, figsize=(11, 4))
    for arm, (mean, sd) in curves.items():
        epochs = np.arange(1, len(mean) + 1)
        mean, sd = np.asarray(mean), np.asarray(sd)
        (line,) = left.plot(epochs, mean, marker="o", ms=3, label=arm)
        left.fill_between(epochs, mean - sd, mean + sd, color=line.get_color(), alpha=0.2)
    left.set_xlabel("epoch")
    left.set_ylabel("held-out accuracy")
    left.legend()
    for arm, (share, noisy) in pools.items():
        epochs = np.arange(1, len(share) + 1)
        (line,) = right.plot(epochs, share, label=f"{arm}: pool share")
        right.plot(
            epochs, noisy, ls="--", color=line.get_color(), label=f"{arm}: noisy labels in pool"
        )
    right.set_xlabel("epoch")
    right.set_ylabel("share")
    right.set_ylim(0, 1.05)
    right.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


# Hyperparameter search (kerasopt.search)
def plot_search_rounds(rows, hyperparameters, path, score="score", log_axes=(), title=None):
    """Score against each hyperparameter, one colour per coarse-to-fine round; a PNG.

    Args:
        rows: list of dicts with "round", `score` and every name in `hyperparameters`
            (a trial may lack conditional ones).
        hyperparameters: names of the numeric hyperparameters to plot, one panel each.
        score: key of the score in `rows`.
        log_axes: names drawn on a log axis (log-sampled rates).
        title: optional figure title.

    Returns:
        `path`, written atomically.

    Example:
        >>> import tempfile
        >>> from kerasopt.plotting import plot_search_rounds
        >>> rows = [{"round": 0, "score": 0.9, "lr": 1e-3}, {"round": 1, "score": 0.5, "lr": 3e-3}]
        >>> path = plot_search_rounds(rows, ["lr"], tempfile.mkdtemp() + "/rounds.png", log_axes=["lr"])
        >>> open(path, "rb").read(4)[1:]  # a PNG file
        b'PNG'
    """
    import numpy as np

    if not rows or not hyperparameters:
        raise ValueError(
            f"Arguments `rows` and `hyperparameters` must be non-empty. Received: "
            f"{len(rows)} rows, hyperparameters={list(hyperparameters)!r}"
        )
    fig, axes = new_figure(1, len(hyperparameters), figsize=(3.6 * len(hyperparameters), 3.4))
    axes = np.atleast_1d(axes)
    rounds = sorted({r["round"] for r in rows})
    for ax, name in zip(axes, hyperparameters, strict=True):
        for k in rounds:
            points = [
                (r[name], r[score]) for r in rows if r["round"] == k and r.get(name) is not None
            ]
            if points:
                x, y = zip(*points, strict=True)
                ax.scatter(x, y, s=18, color=f"C{k % 10}", label=f"round {k}", alpha=0.8)
        if name in log_axes:
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(score)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_search_comparison(distances, path, title=None, ylabel="distance to the optimum"):
    """One box (with the points) per search method; a PNG.

    Args:
        distances: dict method -> list of values (e.g. each seed's distance to the optimum).
        path: the PNG file to write.
        title: optional axes title.
        ylabel: label of the value axis.

    Returns:
        `path`, written atomically.

    Example:
        >>> import tempfile
        >>> from kerasopt.plotting import plot_search_comparison
        >>> path = plot_search_comparison({"random": [0.4, 0.3], "coarse_to_fine": [0.2, 0.5]},
        ...                               tempfile.mkdtemp() + "/box.png")
        >>> open(path, "rb").read(4)[1:]  # a PNG file
        b'PNG'
    """
    import numpy as np

    if not distances:
        raise ValueError(
            "Argument `distances` must be a non-empty {method: values} dict. Received: {}"
        )
    names = list(distances)
    fig, ax = new_figure(figsize=(1.8 + 1.6 * len(names), 3.6))
    ax.boxplot([distances[n] for n in names], showfliers=False)
    ax.set_xticks(range(1, len(names) + 1), names)
    rng = np.random.default_rng(0)
    for i, name in enumerate(names, start=1):
        values = np.asarray(distances[name], dtype=float)
        ax.scatter(
            i + rng.uniform(-0.12, 0.12, len(values)), values, s=12, color="black", alpha=0.6
        )
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return save_figure(fig, path)
