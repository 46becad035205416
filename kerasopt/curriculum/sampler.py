"""Curriculum sampling: a training pool of the easiest examples that grows over epochs.

`CurriculumSampler` holds the order (easiest first, by score) and the pacing function, and
says which examples epoch t trains on. Two ways to feed them to `fit`:
- `sampler.py_dataset(x, y)`: a `keras.utils.PyDataset` over in-memory arrays (any backend);
- `sampler.tf_dataset(x, y, epochs)`: a `tf.data.Dataset` of all the epochs' batches in
  order (TensorFlow only), to `fit(..., epochs=epochs, steps_per_epoch=sampler.steps_per_epoch)`.
"""

import math

import keras
import numpy as np

from kerasopt._validation import check_choice, check_int
from kerasopt.curriculum.pacing import _Pacing, get_pacing

ORDERS = ("curriculum", "anti", "random")


class CurriculumSampler:
    """Which examples each epoch trains on: the ceil(g(t) · N) easiest, shuffled.

    Hacohen & Weinshall 2019 (sec. 2): order the examples by a difficulty score, and at
    epoch t draw the mini-batches from the g(t) share of the easiest ones, g a pacing
    function (`kerasopt.curriculum.pacing`). Each epoch has the same number of batches,
    ceil(N / batch_size), whatever the pool's size, so all orders get the same number of
    updates: the pool is shuffled and repeated to N examples (each pool example appears
    floor or ceil of N / pool times). Once g(t) = 1 it is ordinary shuffled training.

    The controls of their sec. 3 are `order="anti"` (anti-curriculum: the hardest first, the
    scores reversed) and `order="random"` (random curriculum: the same pacing over a random
    order, fixed once from `seed`). Ties in the scores keep the examples' index order.

    Args:
        scores: one difficulty score per example (lower = easier), e.g. from
            `kerasopt.curriculum.loss_scores`.
        pacing: a pacing object, or a name ("linear", "root", "step", "exponential") with
            its default arguments.
        batch_size: examples per batch.
        order: "curriculum", "anti" or "random".
        seed: seed of the shuffles (and of the random order).

    Example:
        >>> from kerasopt.curriculum import StepPacing
        >>> sampler = CurriculumSampler([3.0, 1.0, 2.0, 0.5], StepPacing(0.5, step_length=1), batch_size=2)
        >>> sorted(sampler.pool(0).tolist()), sampler.pool_size(1)
        ([1, 3], 4)
        >>> sorted(sampler.epoch_indices(0).tolist())  # the pool twice: same epoch length
        [1, 1, 3, 3]

    References:
        Hacohen & Weinshall 2019, "On the Power of Curriculum Learning in Training Deep
        Networks", ICML, sec. 2 and 3. Bengio, Louradour, Collobert & Weston 2009,
        "Curriculum Learning", ICML.
    """

    def __init__(self, scores, pacing, batch_size=32, order="curriculum", seed=0):
        scores = np.asarray(scores, dtype="float64")
        if scores.ndim != 1 or len(scores) == 0 or not np.all(np.isfinite(scores)):
            raise ValueError(
                f"Argument `scores` must be a non-empty vector of finite numbers. Received: scores with shape {scores.shape}"
            )
        if not isinstance(pacing, _Pacing):
            pacing = get_pacing(pacing)
        self.pacing = pacing
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.order = check_choice("order", order, ORDERS)
        self.seed = check_int("seed", seed, minimum=0)
        self.scores = scores
        if order == "curriculum":
            self.ranking = np.argsort(scores, kind="stable")
        elif order == "anti":
            self.ranking = np.argsort(-scores, kind="stable")
        else:
            self.ranking = np.random.default_rng(seed).permutation(len(scores))

    @property
    def n(self):
        return len(self.scores)

    @property
    def steps_per_epoch(self):
        return math.ceil(self.n / self.batch_size)

    def pool_size(self, epoch):
        """ceil(g(epoch) · N), at least 1."""
        return max(1, min(self.n, math.ceil(self.pacing(epoch) * self.n - 1e-9)))

    def pool(self, epoch):
        """Indices of the examples epoch `epoch` draws from, easiest first (in this order's sense)."""
        return self.ranking[: self.pool_size(epoch)]

    def epoch_indices(self, epoch):
        """The N example indices of epoch `epoch`, in training order."""
        rng = np.random.default_rng([self.seed, check_int("epoch", epoch, minimum=0)])
        pool = self.pool(epoch)
        repeats = math.ceil(self.n / len(pool))
        return np.concatenate([rng.permutation(pool) for _ in range(repeats)])[: self.n]

    def py_dataset(self, x, y, initial_epoch=0, **kwargs):
        """A `keras.utils.PyDataset` of (x, y) batches that follows this sampler, epoch by epoch
        (pass `fit`'s `initial_epoch` when resuming)."""
        return CurriculumPyDataset(self, x, y, initial_epoch, **kwargs)

    def tf_dataset(self, x, y, epochs):
        """`tf.data.Dataset` of the batches of epochs 0 .. epochs-1, in order (TensorFlow only).

        Feed it to `fit(dataset, epochs=epochs, steps_per_epoch=sampler.steps_per_epoch)`.
        """
        import tensorflow as tf

        check_int("epochs", epochs, minimum=1)
        _check_arrays(x, y, self.n)
        indices = np.stack([self.epoch_indices(e) for e in range(epochs)])
        x, y = tf.constant(x), tf.constant(y)
        batches = tf.data.Dataset.from_tensor_slices(indices).flat_map(
            lambda epoch: tf.data.Dataset.from_tensor_slices(epoch).batch(self.batch_size)
        )
        return batches.map(
            lambda i: (tf.gather(x, i), tf.gather(y, i)), num_parallel_calls=tf.data.AUTOTUNE
        ).prefetch(tf.data.AUTOTUNE)


def _check_arrays(x, y, n):
    if len(x) != n or len(y) != n:
        raise ValueError(
            f"Arguments `x` and `y` must hold one example per score ({n}). Received: len(x)={len(x)}, len(y)={len(y)}"
        )


class CurriculumPyDataset(keras.utils.PyDataset):
    """In-memory (x, y) batches following a `CurriculumSampler`. Made by `CurriculumSampler.py_dataset`.

    An epoch counts once every one of its batches has been served between Keras'
    `on_epoch_begin` and `on_epoch_end` calls: epoch t of `fit` trains on
    `sampler.epoch_indices(initial_epoch + t)` on every backend. Counting the hooks instead
    would run ahead where Keras opens an epoch only to peek at one batch (JAX's `fit` does,
    to build the model). Keras may shuffle the order of the batches within an epoch
    (`fit(shuffle=True)`); their content does not change.

    Example:
        >>> import numpy as np
        >>> from kerasopt.curriculum import CurriculumSampler, StepPacing
        >>> sampler = CurriculumSampler([0.0, 1.0, 2.0, 3.0], StepPacing(0.5, 1), batch_size=4)
        >>> ds = sampler.py_dataset(np.arange(4.0), np.arange(4))
        >>> ds.on_epoch_begin(); sorted(ds[0][1].tolist())  # epoch 0: the two easiest, twice
        [0, 0, 1, 1]
        >>> ds.on_epoch_end(); ds.on_epoch_begin(); sorted(ds[0][1].tolist())  # epoch 1: everything
        [0, 1, 2, 3]

    References:
        Hacohen & Weinshall 2019, "On the Power of Curriculum Learning in Training Deep
        Networks", ICML, sec. 2.
    """

    def __init__(self, sampler, x, y, initial_epoch=0, **kwargs):
        super().__init__(**kwargs)
        _check_arrays(x, y, sampler.n)
        self.sampler, self.x, self.y = sampler, np.asarray(x), np.asarray(y)
        self.epoch = check_int("initial_epoch", initial_epoch, minimum=0)
        self._indices = sampler.epoch_indices(self.epoch)
        self._served = None  # batch indices served since `on_epoch_begin`; None: no epoch open

    def __len__(self):
        return self.sampler.steps_per_epoch

    def __getitem__(self, index):
        if self._served is not None:
            self._served.add(index)
        idx = self._indices[index * self.sampler.batch_size : (index + 1) * self.sampler.batch_size]
        return self.x[idx], self.y[idx]

    def on_epoch_begin(self):
        self._served = set()

    def on_epoch_end(self):
        if self._served is not None and len(self._served) >= len(self):
            self.epoch += 1
            self._indices = self.sampler.epoch_indices(self.epoch)
        self._served = None
