"""Randomness shared by the kerasopt layers: one inverted-scaling Bernoulli keep mask.

Used by DropConnect (a mask over the kernel, one per batch) and StochasticDepth (a mask over
the batch axis, one draw per example). Dropout's convention (Srivastava et al. 2014): kept
entries are scaled by 1/keep_probability so the expectation equals the inference value.
"""

import keras
from keras import ops


def inverted_keep_mask(shape, keep_probability, seed, dtype):
    """A tensor of `shape`: 1/keep_probability with probability keep_probability, else 0.

    `seed` is a `keras.random.SeedGenerator` (or int); the draw is in float32, the mask is
    returned in `dtype` (e.g. float16 under a mixed_float16 policy).
    """
    keep = ops.less(keras.random.uniform(shape, dtype="float32", seed=seed), keep_probability)
    return ops.cast(keep, dtype) / ops.cast(keep_probability, dtype)
