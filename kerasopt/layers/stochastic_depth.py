"""Stochastic depth (Huang et al. 2016, "Deep Networks with Stochastic Depth", ECCV).

A residual block computes `x + f(x)`. In training, stochastic depth keeps the branch `f(x)`
of each example with probability `survival_probability` (one Bernoulli draw per example) and
drops it otherwise, so the block is the identity for that example. Kept branches are scaled by
1/survival_probability (inverted scaling), so inference uses `x + f(x)` with no change (Huang
et al. instead scale the branch by p at test time; the two are equivalent in expectation).

`linear_decay_survival_probabilities(num_blocks, final_survival_probability=0.5)` gives the
paper's linear decay rule p_l = 1 - l/L (1 - p_L) for blocks l = 1..L.
"""

import keras
from keras import ops

from kerasopt._validation import check_int, check_range
from kerasopt.layers._random import inverted_keep_mask


@keras.saving.register_keras_serializable(package="kerasopt")
class StochasticDepth(keras.layers.Layer):
    """Adds a residual branch to its shortcut, dropping the branch per example in training.

    Huang et al. 2016. Called on `[shortcut, branch]` (same shapes): returns
    `shortcut + branch` at inference and `shortcut + branch * m / p` in training, with
    m ~ Bernoulli(p) drawn once per example (broadcast over all other axes). Runs under
    `jit_compile=True` and in `tf.data`; keeps the input dtype under mixed_float16.

    Args:
        survival_probability: p in (0, 1], the probability of keeping the branch.
        seed: int or None.

    Example:
        >>> import numpy as np
        >>> from kerasopt.layers import StochasticDepth
        >>> shortcut, branch = np.zeros((4, 2), "float32"), np.ones((4, 2), "float32")
        >>> layer = StochasticDepth(survival_probability=0.5, seed=0)
        >>> np.asarray(layer([shortcut, branch], training=False)).tolist()[0]  # shortcut + branch
        [1.0, 1.0]
        >>> sorted(set(np.asarray(layer([shortcut, branch], training=True)).ravel().tolist()) - {0.0, 2.0})
        []

    References:
        Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016.
    """

    def __init__(self, survival_probability=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.survival_probability = check_range(
            "survival_probability", survival_probability, 0.0, 1.0, low_inclusive=False
        )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        shortcut, branch = inputs
        if training and self.survival_probability < 1.0:
            mask_shape = (ops.shape(branch)[0],) + (1,) * (len(branch.shape) - 1)
            branch = branch * inverted_keep_mask(
                mask_shape, self.survival_probability, self.seed_generator, branch.dtype
            )
        return shortcut + branch

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {
            **super().get_config(),
            "survival_probability": self.survival_probability,
            "seed": self.seed,
        }


def linear_decay_survival_probabilities(num_blocks, final_survival_probability=0.5):
    """Huang et al. 2016, eq. 4: p_l = 1 - (l / L) (1 - p_L) for l = 1..L, as a list of floats.

    The first block is kept most often, the last with probability `final_survival_probability`.

    Example:
        >>> from kerasopt.layers import linear_decay_survival_probabilities
        >>> [round(p, 3) for p in linear_decay_survival_probabilities(4, 0.5)]  # p_l = 1 - l/L (1 - p_L)
        [0.875, 0.75, 0.625, 0.5]

    References:
        Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016, eq. 4.
    """
    num_blocks = check_int("num_blocks", num_blocks, minimum=1)
    p_last = check_range(
        "final_survival_probability", final_survival_probability, 0.0, 1.0, low_inclusive=False
    )
    return [1.0 - (block / num_blocks) * (1.0 - p_last) for block in range(1, num_blocks + 1)]
