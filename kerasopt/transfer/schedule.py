"""Warm-up then cosine decay, phase 2's learning-rate schedule.

Source: Goyal et al., 2017 (linear warm-up); Loshchilov & Hutter, SGDR, 2017 (cosine decay).
"""

import keras

from kerasopt._validation import check_int, check_positive, check_range
from kerasopt.schedules import Warmup


def warmup_cosine(peak, total_steps, warmup_fraction):
    """`kerasopt.schedules.Warmup` from 0 up to `peak`, then Keras' `CosineDecay` down to 0.

    With w = int(warmup_fraction * total_steps) warm-up steps, the rate at step t is
    peak * t / w for t < w (linear warm-up, Goyal et al., 2017), then
    peak * (1 + cos(pi * (t - w) / (total_steps - w))) / 2 (cosine decay, Loshchilov & Hutter,
    2017), reaching 0 at `total_steps`.

    Args:
        peak: the rate at the end of the warm-up (> 0).
        total_steps: the steps of the whole schedule (>= 1).
        warmup_fraction: the share of `total_steps` spent warming up, in [0, 1).

    Returns:
        A `kerasopt.schedules.Warmup` around a `keras.optimizers.schedules.CosineDecay`.

    Example:
        >>> from kerasopt.transfer import warmup_cosine
        >>> schedule = warmup_cosine(1.0, total_steps=10, warmup_fraction=0.2)  # w = 2 steps
        >>> [round(float(schedule(t)), 6) for t in (0, 1, 2, 6, 10)]  # 0, peak/2, peak, half-way, 0
        [0.0, 0.5, 1.0, 0.5, 0.0]

    References:
        Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017;
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017.
    """
    check_positive("peak", peak)
    check_int("total_steps", total_steps, minimum=1)
    check_range("warmup_fraction", warmup_fraction, 0.0, 1.0, high_inclusive=False)
    warmup = int(warmup_fraction * total_steps)
    cosine = keras.optimizers.schedules.CosineDecay(peak, decay_steps=max(total_steps - warmup, 1))
    return Warmup(cosine, warmup_steps=warmup)
