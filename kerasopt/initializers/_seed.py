"""Seed handling shared by kerasopt's random initializers, with Keras' own semantics.

As in `keras.initializers.RandomNormal`: an integer seed, or None (a random integer drawn
once at construction from Python's `random`, which `keras.utils.set_random_seed` seeds),
gives the same values on every call; a `keras.random.SeedGenerator` gives new values on
every call and reproducible sequences.
"""

import random

import keras

from kerasopt._validation import check_int

_MODULUS = 2**31 - 1


class SeededInitializer(keras.initializers.Initializer):
    """Base class: stores `seed` like Keras' random initializers and serializes it."""

    def __init__(self, seed=None):
        self._init_seed = seed
        if isinstance(seed, dict):
            seed = keras.saving.deserialize_keras_object(seed)
        if seed is None:
            seed = random.randint(1, int(1e9))
        elif not isinstance(seed, keras.random.SeedGenerator):
            seed = check_int("seed", seed, minimum=0)
        self.seed = seed

    def sub_seed(self, index):
        """The seed for the `index`-th independent draw of one call.

        A SeedGenerator advances by itself; an integer is mixed with `index` so that two
        draws in one call (e.g. a mask and the values) are not made from the same stream.
        """
        if isinstance(self.seed, keras.random.SeedGenerator):
            return self.seed
        return (self.seed * 2654435761 + index) % _MODULUS

    def get_config(self):
        return {"seed": keras.saving.serialize_keras_object(self._init_seed)}
