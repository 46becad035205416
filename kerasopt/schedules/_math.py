"""Interpolation shared by the schedules, the momentum cycle and snapshot ensembles (keras.ops, graph-safe)."""

import math

from keras import ops


def as_float(step):
    """The step as a float32 tensor (schedules receive int or float steps)."""
    return ops.cast(step, "float32")


def cosine_anneal(start, end, position, length):
    """Half a cosine from `start` (position 0) to `end` (position `length`), clipped outside.

    `end + (start - end) * (1 + cos(pi * position / length)) / 2`, evaluated as
    `end + (start - end) * sin^2(pi/2 * (length - position) / length)` so that float32 keeps
    its relative accuracy near the end, where the rate is smallest.
    """
    remaining = ops.clip((length - position) / length, 0.0, 1.0)
    return end + (start - end) * ops.square(ops.sin(0.5 * math.pi * remaining))


def linear_anneal(start, end, fraction):
    """`(1 - fraction) * start + fraction * end`, with `fraction` clipped to [0, 1] (exact at both ends)."""
    fraction = ops.clip(fraction, 0.0, 1.0)
    return (1.0 - fraction) * start + fraction * end
