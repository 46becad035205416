"""A learning-rate search range from the LR range test (Smith 2017, sec. 3.3)."""

from kerasopt._validation import check_instance, check_range
from kerasopt.callbacks.lr_finder import LRFinder


def lr_range_from_finder(finder, span=100.0):
    """`(low, high)` for a log-uniform learning-rate hyperparameter, from a finished sweep.

    Smith 2017 (sec. 3.3) reads the bounds of a cyclical schedule off the range test: the
    rate where the loss starts to fall and the rate where it stops falling. Here `high`
    is the rate of the lowest smoothed loss (beyond it the loss rises, then diverges) and
    `low = high / span`, clipped to the swept interval; the default two decades contain
    the test's own suggestion (`high / 10`, `LRFinder.suggestion`). Use it as the
    coarse round's range: `hp.Float("learning_rate", low, high, sampling="log")`.

    Args:
        finder: a `kerasopt.callbacks.LRFinder` after `fit`.
        span: ratio high / low, > 1.

    Example:
        >>> finder = LRFinder(min_lr=1e-5, max_lr=1.0, steps=5)
        >>> finder.history = {"lr": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
        ...                   "loss": [1.0, 0.9, 0.5, 0.4, 3.0],
        ...                   "smoothed_loss": [1.0, 0.95, 0.8, 0.6, 1.5]}
        >>> tuple(float(f"{v:.3g}") for v in lr_range_from_finder(finder))
        (0.0001, 0.01)

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017.
    """
    check_instance("finder", finder, LRFinder, "a kerasopt.callbacks.LRFinder")
    check_range("span", span, low=1, low_inclusive=False)
    high = finder.lowest_loss_lr()
    if high is None:
        raise ValueError(
            "Argument `finder` must hold a finished sweep with finite losses: run "
            f"model.fit with it first. Received: {len(finder.history['lr'])} recorded steps"
        )
    high = float(high)
    return max(finder.min_lr, high / span), min(finder.max_lr, high)
