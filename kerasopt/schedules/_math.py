"""Interpolation shared by the schedules, the momentum cycle and snapshot ensembles (keras.ops, graph-safe)."""

import math

from keras import ops


def as_float(step):
    """The step as a float32 tensor (schedules receive int or float steps)."""
    return ops.cast(step, "float32")


def cosine_anneal(start, end, position, length):
    """Half a cosine from `start` (position 0) to `end` (position `length`), clipped outside.

    `end + (start - end) * (1 + cos(pi * position / length)) / 2`, evaluated from the nearer
    end: `start + (end - start) * sin^2(pi/2 * position / length)` in the first half and
    `end + (start - end) * sin^2(pi/2 * (length - position) / length)` in the second, so that
    float32 keeps its relative accuracy near both ends (where one of them may be tiny).
    """
    done = ops.clip(position / length, 0.0, 1.0)
    remaining = ops.clip((length - position) / length, 0.0, 1.0)
    from_start = start + (end - start) * ops.square(ops.sin(0.5 * math.pi * done))
    from_end = end + (start - end) * ops.square(ops.sin(0.5 * math.pi * remaining))
    return ops.where(done < 0.5, from_start, from_end)


def linear_anneal(start, end, fraction):
    """`(1 - fraction) * start + fraction * end`, with `fraction` clipped to [0, 1] (exact at both ends)."""
    fraction = ops.clip(fraction, 0.0, 1.0)
    return (1.0 - fraction) * start + fraction * end


def linear_anneal_steps(start, end, position, length):
    """A line from `start` (position 0) to `end` (position `length`), clipped outside.

    Evaluated from the nearer end, `start + (end - start) * position / length` in the first
    half and `end + (start - end) * (length - position) / length` in the second, like
    `cosine_anneal`, so that float32 keeps its relative accuracy near both ends.
    """
    done = ops.clip(position / length, 0.0, 1.0)
    remaining = ops.clip((length - position) / length, 0.0, 1.0)
    return ops.where(done < 0.5, start + (end - start) * done, end + (start - end) * remaining)
