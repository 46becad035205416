"""The fused-epoch driver of the RBMs: the epoch loop, the per-update counters and the random
bits. It is the RBMs' one backend shim: `tensorflow_paths()` is the backend test for the
Philox draws and in-place transposes, and on another backend `matmul`, `begin_update` and
`random` fall back to `keras.ops` / `keras.random`. The RBM's energies, conditionals and CD
statistics stay in `rbm.py`; this module only decides which rows, which seed and which noise
each update gets.

A fused epoch is ONE compiled call: Keras hands the train step the whole in-memory array once
per epoch and `epoch` loops over the minibatches of static-shaped slices, in a
`tf.while_loop` on TensorFlow and a `jax.lax.fori_loop` on JAX (the idea of
`steps_per_execution` taken to the whole epoch, without Keras' per-batch data iterator); the
last partial batch, if any, is one more update, so the updates equal Keras' unfused ones
batch for batch. On JAX the loop carries the values of the variables an update touches
(weights, chain, seed-generator state, optimizer state) and runs each update in a
`keras.StatelessScope` over them, so one update is the unfused step's code.

Random bits: every update derives ONE Philox key from the seed generator's state for that
update (the state the generator's i-th `next()` would give, as unfused training does) and
every draw inside the update uses that key with its own counter block, so draws never overlap
and an update spends one seed, not one per draw (under XLA on CPU the default ThreeFry
generator costs more than the RBM's matrix products).
"""

import keras
import numpy as np
from keras import ops

from kerasopt import _backend

PHILOX = 1  # TensorFlow's id of the Philox algorithm (tf.random.Algorithm.PHILOX)
KERAS_FIT_ONLY = ("steps_per_epoch", "sample_weight", "class_weight")
BACKENDS = ("tensorflow", "jax")  # where the fused epoch runs


def tensorflow_paths():
    """Whether the TensorFlow-only paths apply (Philox draws, GEMMs reading transposes in place,
    the fused epoch): the RBMs' one backend test."""
    return _backend.is_tensorflow()


def matmul(a, b, transpose_a=False, transpose_b=False):
    """a^(T) b^(T); on TensorFlow the GEMM reads the transposes in place instead of
    materializing them (outside XLA a transpose is a copy)."""
    if tensorflow_paths():
        import tensorflow as tf

        return tf.linalg.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    return ops.matmul(
        ops.transpose(a) if transpose_a else a, ops.transpose(b) if transpose_b else b
    )


def begin_update(rbm, seed=None):
    """On TensorFlow, give the update starting now its one Philox key (from `seed`, the
    seed-generator state, default the generator's next) and reset its draw counter."""
    if tensorflow_paths():
        rbm._key = philox_key(rbm.seed_generator.next() if seed is None else seed)
        rbm._draws = 0


def random(rbm, kind, shape):
    """`uniform` or `normal` noise of `shape` for `rbm`. On TensorFlow it draws with Philox:
    inside an update every draw uses that update's key with its own counter block, outside one
    a fresh key per draw. Elsewhere it draws from `keras.random` with the RBM's seed generator."""
    dtype = rbm.kernel.dtype
    if not tensorflow_paths():
        return getattr(keras.random, kind)(shape, dtype=dtype, seed=rbm.seed_generator)
    if rbm._key is None:
        key, block = philox_key(rbm.seed_generator.next()), 0
    else:
        key, block = rbm._key, rbm._draws
        rbm._draws += 1
    return draw(kind, shape, key, block, dtype)


def philox_key(seed):
    """The Philox key TensorFlow's stateless ops derive from a seed-generator state."""
    import tensorflow as tf

    seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), "int32")
    return tf.raw_ops.StatelessRandomGetKeyCounter(seed=seed)[0]


def draw(kind, shape, key, block, dtype):
    """`uniform` or `normal` noise of `shape` from Philox `key`, counter block `block`."""
    import tensorflow as tf

    op = (
        tf.raw_ops.StatelessRandomUniformV2
        if kind == "uniform"
        else tf.raw_ops.StatelessRandomNormalV2
    )
    shape = tf.stack([tf.cast(d, "int32") for d in shape])
    counter = tf.constant([0, block], "uint64")  # (low, high) words: draws never overlap
    return op(shape=shape, key=key, counter=counter, alg=PHILOX, dtype=dtype)


def unfit_reason(x, y, validation_split, kwargs):
    """Why `fit` cannot run fused on these arguments (a message), or None when it can."""
    if _backend.backend() not in BACKENDS:
        return (
            f"`fused=True` needs the TensorFlow or JAX backend. Received: the "
            f"{_backend.backend()} backend; on it, use fused=False (Keras' per-batch loop)"
        )
    if (
        getattr(x, "element_spec", None) is not None
        or not hasattr(x, "shape")
        or len(x.shape) != 2
        or is_sparse(x)
    ):
        return (
            "`fused=True` needs `x` as an in-memory 2-D array or tensor (samples, visible units); "
            "use fused=False for datasets, generators and sparse matrices. Received: x of type "
            f"{type(x).__name__}" + (f" and shape {tuple(x.shape)}" if hasattr(x, "shape") else "")
        )
    if y is not None:
        return f"`y` must be None with fused=True (RBMs are unsupervised). Received: y of type {type(y).__name__}"
    if validation_split:
        return (
            "`validation_split` must be 0 with fused=True (pass `validation_data`). "
            f"Received: validation_split={validation_split!r}"
        )
    for name in KERAS_FIT_ONLY:
        if kwargs.get(name) is not None:
            return f"`{name}` must be None with fused=True. Received: {name}={kwargs[name]!r}"
    return None


def is_sparse(x):
    """Whether `x` is a SciPy sparse matrix or array (fed per batch, densified batch by batch)."""
    return hasattr(x, "tocsr") and hasattr(x, "nnz")


class SparseBatches(keras.utils.PyDataset):
    """The rows of a SciPy sparse matrix in order, `batch_size` at a time, each batch
    densified on its own (the whole matrix never is), as `(batch,)` for Keras' per-batch loop
    on every backend; scikit-learn's `BernoulliRBM.fit` takes such input."""

    def __init__(self, x, batch_size, dtype):
        super().__init__()
        self.x, self.batch_size, self.dtype = x.tocsr(), batch_size, dtype

    def __len__(self):
        return -(-self.x.shape[0] // self.batch_size)

    def __getitem__(self, index):
        rows = self.x[index * self.batch_size : (index + 1) * self.batch_size]
        return (rows.toarray().astype(self.dtype, copy=False),)


def epoch_feed(x, dtype):
    """`(x, fit_arguments)`: the whole array as ONE element per epoch. On TensorFlow a
    `tf.data` dataset of the array (converted once) repeated, with `steps_per_epoch=1` (Keras
    keeps one iterator for the whole fit, no per-epoch copy); on JAX the array itself with
    `batch_size` its row count (one batch, the array's rows in order)."""
    if tensorflow_paths():
        import tensorflow as tf

        data = tf.data.Dataset.from_tensors((ops.convert_to_tensor(x, dtype=dtype),)).repeat()
        return data, {"batch_size": None, "steps_per_epoch": 1}
    return np.asarray(x, dtype=dtype), {"batch_size": int(x.shape[0])}


def epoch(rbm, x, batch_size, shuffle, n):
    """One epoch of `rbm._update` over the whole array `x` (n rows) inside the compiled step;
    returns the epoch's metric statistics (summed over batches)."""
    if tensorflow_paths():
        return _tf_epoch(rbm, x, batch_size, shuffle, n)
    return _jax_epoch(rbm, x, batch_size, shuffle, n)


def _add(stats, new):
    return [(t + nt, c + nc) for (t, c), (nt, nc) in zip(stats, new, strict=True)]


def _jax_epoch(rbm, x, batch_size, shuffle, n):
    """The JAX epoch: full batches in a `lax.fori_loop` whose carry is the value of every
    variable an update touches, then the last partial batch, if any, as one more update.
    Each update runs the unfused step's `rbm._update` in a `keras.StatelessScope` mapping the
    variables to the carried values, so its draws come from the seed generator in the same
    order as unfused training."""
    import jax

    variables = [*rbm.trainable_variables, *rbm.non_trainable_variables]
    variables += [v for v in rbm.optimizer.variables if all(v is not w for w in variables)]
    variables = [v for v in variables if all(v is not m for m in rbm.metrics_variables)]

    def update(values, batch):
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))) as scope:
            stats = rbm._update(batch)
        new = []
        for variable, value in zip(variables, values, strict=True):
            current = scope.get_current_value(variable)
            new.append(
                value if current is None else jax.lax.convert_element_type(current, value.dtype)
            )
        return new, stats

    order = ops.argsort(rbm._uniform((n,))) if shuffle else None

    def batch(start, size):
        if order is None:
            return jax.lax.dynamic_slice_in_dim(x, start, size)
        return ops.take(x, jax.lax.dynamic_slice_in_dim(order, start, size), axis=0)

    full, rest = divmod(n, batch_size)
    values = [ops.convert_to_tensor(v.value) for v in variables]
    stats = [(ops.zeros((), x.dtype), ops.zeros((), x.dtype)) for _ in rbm.metrics]
    if full:

        def body(i, carry):
            values, stats = carry
            values, new = update(values, batch(i * batch_size, batch_size))
            return values, [
                (ops.cast(t, x.dtype), ops.cast(c, x.dtype)) for t, c in _add(stats, new)
            ]

        values, stats = jax.lax.fori_loop(0, full, body, (values, stats))
    if rest:
        values, new = update(values, batch(full * batch_size, rest))
        stats = _add(stats, new)
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
    return stats


def _tf_epoch(rbm, x, batch_size, shuffle, n):
    """The TensorFlow epoch: full batches in a `tf.while_loop` over static-shaped slices (of an in-graph permutation
    when shuffling), then the last partial batch, if any, as one more update. Returns the
    epoch's metric statistics (summed over batches)."""
    import tensorflow as tf

    x = tf.ensure_shape(x, (n,) + tuple(x.shape[1:]))
    order = tf.argsort(rbm._uniform((n,)), stable=True) if shuffle else None
    full, rest = divmod(n, batch_size)

    def batch(start, size):
        if order is None:
            # Explicit sizes: with -1 XLA pads the whole array to make the dynamic slice safe.
            return (
                x[start : start + size]
                if isinstance(start, int)
                else tf.slice(x, [start, 0], [size, x.shape[1]])
            )
        return tf.gather(x, tf.slice(order, [start], [size]))

    # Update i uses the seed the generator's i-th `next()` would give, as unfused training
    # does; the generator then advances past the epoch's updates.
    state = rbm.seed_generator.state
    start = ops.convert_to_tensor(state)

    def seed(i):
        return start + ops.cast(ops.stack([0, i]), start.dtype)

    stats = [(tf.zeros((), x.dtype), tf.zeros((), x.dtype)) for _ in rbm.metrics]
    if full:

        def body(i, stats):
            return i + 1, _add(stats, rbm._update(batch(i * batch_size, batch_size), seed(i)))

        _, stats = tf.while_loop(lambda i, _: i < full, body, (tf.constant(0), stats))
    if rest:
        stats = _add(stats, rbm._update(batch(full * batch_size, rest), seed(full)))
    state.assign(seed(full + (1 if rest else 0)))
    return stats
