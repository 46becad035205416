"""Restricted Boltzmann machines trained by contrastive divergence, as `keras.Model`s.

An RBM over visible units v and binary hidden units h has energy
E(v, h) = V(v) - c.h - v.W.h, where V is the visible term (-b.v for binary visible units,
||v - b||^2 / 2 for Gaussian ones with unit variance). Summing h out gives the free energy
F(v) = V(v) - sum_j softplus(c_j + v.W_j), and the log-likelihood gradient
d log p(v) / d theta = -dF(v)/d theta + E_model[dF/d theta], whose second term is
intractable. Contrastive divergence (CD-k, Hinton 2002) estimates it with k Gibbs steps
started at the data; persistent CD (PCD, Tieleman 2008) keeps the Gibbs chains running from
one update to the next. Course: Goodfellow et al., Deep Learning, sec. 18.2 (CD / PCD) and
sec. 20.2 (RBMs); Hinton, "A Practical Guide to Training RBMs" (2010) for weight decay,
sparsity targets and monitoring.

`train_step` computes the CD statistics in `keras.ops` and hands their negation, as a
gradient, to the compiled optimizer, so `compile(optimizer=keras.optimizers.SGD(lr,
momentum=...))` gives the classic momentum update and `fit` brings progress bars and
callbacks. With plain SGD the update equals scikit-learn's `BernoulliRBM`:
W += lr * (v+^T h+ / B - v-^T h- / n_chains).

`fit(x)` on an in-memory array (TensorFlow backend) runs each epoch as one compiled call (the
fused epoch of `kerasopt/pretraining/_fused.py`), compiled with XLA unless `compile` was told
otherwise; datasets and generators take Keras' per-batch loop. Both choices are measured in
`benchmarks/rbm_vs_sklearn.py` (see `RBM.fit`).
"""

import keras
import numpy as np
from keras import ops

from kerasopt import _backend
from kerasopt._validation import check_bool, check_int, check_range
from kerasopt.pretraining import _fused


def _input_shape(x):
    """Shape of an array, tensor, `tf.data`-style dataset or `keras.utils.PyDataset` of `x`
    (or `(x, ...)`)."""
    spec = getattr(x, "element_spec", None)
    if spec is not None:
        return tuple((spec[0] if isinstance(spec, tuple) else spec).shape)
    if isinstance(x, keras.utils.PyDataset):
        first = x[0]
        return tuple((first[0] if isinstance(first, tuple) else first).shape)
    if hasattr(x, "shape"):
        return tuple(x.shape)
    raise ValueError(
        "Argument `x` must be an array, a tensor or a dataset when the RBM is not built yet "
        f"(or call `build((None, n_visible))` first). Received: x of type {type(x).__name__}"
    )


def _head(t, rows):
    """The first `rows` rows of `t` (no slicing op when that is all of `t`)."""
    return t if isinstance(rows, int) and t.shape[0] == rows else t[:rows]


def _rows_as(t, dtype):
    """Number of rows of `t` as a Python float when static, else as a `dtype` tensor."""
    rows = ops.shape(t)[0]
    return float(rows) if isinstance(rows, int) else ops.cast(rows, dtype)


class _FreeEnergyGap(keras.callbacks.Callback):
    """Adds `free_energy_gap = val_free_energy - free_energy` to the epoch logs."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and "val_free_energy" in logs and "free_energy" in logs:
            logs["free_energy_gap"] = logs["val_free_energy"] - logs["free_energy"]


@keras.saving.register_keras_serializable(package="kerasopt")
class RBM(keras.Model):
    """Shared machinery of the RBMs: CD-k / PCD training, monitoring, free energy, Gibbs.

    Subclasses define only the visible units: `_visible_mean(logits)`,
    `_sample_visible(mean)`, `_visible_energy(v)` and `_check_data(name, x)`.

    Args:
        n_hidden: number of binary hidden units (>= 1).
        k: Gibbs steps per update (CD-k / PCD-k), >= 1.
        persistent: keep `n_chains` persistent Gibbs chains across updates (PCD).
        n_chains: number of persistent chains (used only when `persistent`); scikit-learn
            uses as many chains as the batch size.
        weight_decay: L2 coefficient lambda; adds lambda * W to the weight gradient.
        sparsity_target: target mean activation p of each hidden unit, or None. Adds
            `sparsity_cost * (q - p)` to the hidden-bias gradient and
            `sparsity_cost * mean(v) (q - p)` to the weight gradient, q being the batch
            mean of the hidden probabilities (Hinton 2010, sec. 11; Lee et al. 2008).
        sparsity_cost: weight of the sparsity penalty (>= 0).
        seed: integer seed of the weight initializer and of the sampling, or None.
        monitor_fraction: fraction in (0, 1] of each training batch (its first
            ceil(monitor_fraction * rows) rows, at least one) on which the logged training
            metrics are computed. The default 0.1 keeps the monitoring, which the update
            does not need, to a small share of an epoch: on every row it costs PCD a sixth
            matrix product per update (`reconstruction_error`) plus two softplus passes
            (free energy, pseudo-likelihood), about a fifth of a fused PCD epoch under XLA
            at MNIST scale (benchmarks/rbm_vs_sklearn.py). The epoch values remain means over a tenth of
            the epoch's rows (1,000 of 10,000), unbiased when the data are shuffled; 1.0
            monitors every row. Evaluation and validation always use every row.

    Logged metrics: `reconstruction_error` (mean squared error per visible unit of the
    visible means given a hidden sample drawn from the data), `free_energy` (mean F(v) on
    the data), and with validation data `val_*` and `free_energy_gap` (val minus train
    free energy; a growing gap signals overfitting, Hinton 2010 sec. 6). Under PCD the
    hidden sample behind `reconstruction_error` reuses the uniform noise of the chains'
    new hidden sample (it serves monitoring only, so the update is unchanged).

    Example:
        `RBM` is the shared base; use one of its two subclasses:

        >>> from kerasopt.pretraining import RBM, BernoulliRBM, GaussianBernoulliRBM
        >>> issubclass(BernoulliRBM, RBM), issubclass(GaussianBernoulliRBM, RBM)
        (True, True)
        >>> BernoulliRBM(0)
        Traceback (most recent call last):
        ...
        ValueError: Argument `n_hidden` must be an integer >= 1. Received: n_hidden=0

    References:
        Hinton, "Training Products of Experts by Minimizing Contrastive Divergence", Neural
        Computation 14(8), 2002; Tieleman, "Training Restricted Boltzmann Machines using
        Approximations to the Likelihood Gradient", ICML 2008; Hinton, "A Practical Guide to
        Training Restricted Boltzmann Machines", UTML TR 2010-003; Goodfellow et al., Deep
        Learning, sec. 20.2.
    """

    _tracks_pseudo_likelihood = False

    def __init__(
        self,
        n_hidden,
        k=1,
        persistent=False,
        n_chains=100,
        weight_decay=0.0,
        sparsity_target=None,
        sparsity_cost=0.1,
        seed=None,
        monitor_fraction=0.1,
        **kwargs,
    ):
        n_hidden = check_int("n_hidden", n_hidden, minimum=1)
        k = check_int("k", k, minimum=1)
        check_bool("persistent", persistent)
        n_chains = check_int("n_chains", n_chains, minimum=1)
        check_range("weight_decay", weight_decay, low=0)
        if sparsity_target is not None:
            check_range(
                "sparsity_target", sparsity_target, 0, 1, low_inclusive=False, high_inclusive=False
            )
        check_range("sparsity_cost", sparsity_cost, low=0)
        if seed is not None:
            seed = check_int("seed", seed, minimum=0)
        check_range("monitor_fraction", monitor_fraction, 0, 1, low_inclusive=False)
        super().__init__(**kwargs)
        self.n_hidden, self.k, self.persistent, self.n_chains = n_hidden, k, persistent, n_chains
        self.weight_decay, self.sparsity_cost = float(weight_decay), float(sparsity_cost)
        self.sparsity_target = None if sparsity_target is None else float(sparsity_target)
        self.seed = seed
        self.monitor_fraction = float(monitor_fraction)
        self._fused = None  # (batch_size, shuffle, n_samples) while `fit(..., fused=True)` runs
        self._train_mode = (
            None  # the (fused, jit_compile) mode the cached `train_function` was traced for
        )
        self._jit_auto = False  # compiled with jit_compile="auto": XLA for the fused epoch
        self._key, self._draws = None, 0  # the current update's Philox key and draws so far
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_error")
        self.free_energy_tracker = keras.metrics.Mean(name="free_energy")
        self.pll_tracker = keras.metrics.Mean(name="pseudo_log_likelihood")

    def build(self, input_shape):
        n_visible = int(input_shape[-1])
        self.kernel = self.add_weight(
            shape=(n_visible, self.n_hidden),
            initializer=keras.initializers.RandomNormal(stddev=0.01, seed=self.seed),
            name="kernel",
        )
        self.hidden_bias = self.add_weight(
            shape=(self.n_hidden,), initializer="zeros", name="hidden_bias"
        )
        self.visible_bias = self.add_weight(
            shape=(n_visible,), initializer="zeros", name="visible_bias"
        )
        if self.persistent:
            self.chain = self.add_weight(
                shape=(self.n_chains, self.n_hidden),
                initializer="zeros",
                trainable=False,
                name="chain",
            )

    @property
    def metrics(self):
        trackers = [self.reconstruction_tracker, self.free_energy_tracker]
        return trackers + [self.pll_tracker] if self._tracks_pseudo_likelihood else trackers

    # ---- conditionals and energies -------------------------------------------------------

    def _hidden_logits(self, v):
        return ops.matmul(v, self.kernel) + self.hidden_bias

    def _visible_logits(self, h):
        return _fused.matmul(h, self.kernel, transpose_b=True) + self.visible_bias

    def _random(self, kind, shape):
        """`uniform` or `normal` noise of `shape` (`_fused.random`: Philox on TensorFlow)."""
        return _fused.random(self, kind, shape)

    def _uniform(self, shape):
        """Uniform(0, 1) noise behind every Bernoulli sample (the one random stream)."""
        return self._random("uniform", shape)

    def _normal(self, shape):
        """Standard normal noise behind every Gaussian sample."""
        return self._random("normal", shape)

    def _bernoulli(self, p):
        return ops.cast(self._uniform(ops.shape(p)) < p, p.dtype)

    def _free_energy_from(self, v, hidden_logits):
        return self._visible_energy(v) - ops.sum(ops.softplus(hidden_logits), axis=-1)

    def free_energy(self, v):
        """F(v) = V(v) - sum_j softplus(c_j + v.W_j), one value per row of `v` (a tensor)."""
        v = ops.convert_to_tensor(v, dtype=self.kernel.dtype)
        return self._free_energy_from(v, self._hidden_logits(v))

    def call(self, inputs):
        """Hidden-unit probabilities p(h = 1 | v)."""
        return ops.sigmoid(self._hidden_logits(ops.cast(inputs, self.kernel.dtype)))

    def transform(self, x):
        """Hidden probabilities p(h = 1 | x) as a NumPy array (scikit-learn's `transform`)."""
        return ops.convert_to_numpy(self(ops.convert_to_tensor(np.asarray(x, dtype="float32"))))

    def gibbs(self, v, steps=1):
        """Visible sample after `steps` alternating Gibbs steps v -> h -> v (a tensor)."""
        steps = check_int("steps", steps, minimum=1)
        v = ops.convert_to_tensor(v, dtype=self.kernel.dtype)
        for _ in range(steps):
            h = self._bernoulli(ops.sigmoid(self._hidden_logits(v)))
            v = self._sample_visible(self._visible_mean(self._visible_logits(h)))
        return v

    # ---- training ------------------------------------------------------------------------

    def _statistics(self, v, hidden_logits, reconstruction):
        """(total, count) of each training metric over the rows of `v`, in `self.metrics`
        order: the batch's mean squared reconstruction error counts as one value (the epoch
        value is the mean of the batch means), free energy and pseudo-log-likelihood count
        once per row."""
        rows = _rows_as(v, v.dtype)
        free_energy = self._free_energy_from(v, hidden_logits)
        stats = [(ops.mean(ops.square(v - reconstruction)), 1.0), (ops.sum(free_energy), rows)]
        if self._tracks_pseudo_likelihood:
            stats.append(
                (ops.sum(self._pseudo_log_likelihood(v, hidden_logits, free_energy)), rows)
            )
        return stats

    def _record(self, stats):
        """Add (total, count) pairs to the metric trackers and return the logs."""
        for tracker, (total, count) in zip(self.metrics, stats, strict=True):
            tracker.update_state(total / count, sample_weight=count)
        return {m.name: m.result() for m in self.metrics}

    def _monitor(self, v, hidden_logits, reconstruction):
        """Update the metric trackers from a batch and return the logs."""
        return self._record(self._statistics(v, hidden_logits, reconstruction))

    def _pseudo_log_likelihood(self, v, hidden_logits, free_energy):
        """scikit-learn's estimate: flip one random visible unit i per row and return
        n_visible * log sigmoid(F(v with v_i flipped) - F(v)). The flip changes the hidden
        logits by +-W_i, so no extra matrix product is needed."""
        n_visible = ops.shape(v)[-1]
        uniform = self._uniform(ops.shape(v)[:1])
        index = ops.minimum(
            ops.cast(uniform * ops.cast(n_visible, v.dtype), "int32"), n_visible - 1
        )
        flip = ops.one_hot(index, n_visible, dtype=v.dtype) * (1.0 - 2.0 * v)
        sign = ops.sum(flip, axis=-1, keepdims=True)
        flipped_logits = hidden_logits + sign * ops.take(self.kernel, index, axis=0)
        flipped_energy = self._free_energy_from(v + flip, flipped_logits)
        return ops.cast(n_visible, v.dtype) * ops.log_sigmoid(flipped_energy - free_energy)

    def _monitor_rows(self, v):
        """Rows of a training batch behind the logged metrics: ceil(monitor_fraction * B)."""
        rows = ops.shape(v)[0]
        if self.monitor_fraction == 1.0:
            return rows
        if isinstance(rows, int):
            return max(1, int(np.ceil(self.monitor_fraction * rows)))
        return ops.maximum(
            1, ops.cast(ops.ceil(self.monitor_fraction * ops.cast(rows, "float32")), "int32")
        )

    def _gradients(self, v):
        """Negated CD-k / PCD-k statistics for (kernel, hidden_bias, visible_bias), and the
        monitored rows (first `_monitor_rows(v)`) with their hidden logits and
        reconstruction, for `_statistics`."""
        positive_logits = self._hidden_logits(v)
        h_pos = ops.sigmoid(positive_logits)
        rows = self._monitor_rows(v)
        h = self.chain if self.persistent else self._bernoulli(h_pos)
        reconstruction = None
        for step in range(self.k):
            v_mean = self._visible_mean(self._visible_logits(h))
            if step == 0 and not self.persistent:
                reconstruction = _head(v_mean, rows)  # CD: the first Gibbs step starts at the data
            v_neg = self._sample_visible(v_mean)
            h_neg = ops.sigmoid(self._hidden_logits(v_neg))
            if step < self.k - 1:
                h = self._bernoulli(h_neg)
        if self.persistent:
            # One uniform draw serves the chains' new hidden sample and the monitored data's
            # hidden sample (monitoring only, so the PCD update is unchanged).
            size = (
                max(self.n_chains, rows)
                if isinstance(rows, int)
                else ops.maximum(self.n_chains, rows)
            )
            noise = self._uniform((size, self.n_hidden))
            self.chain.assign(ops.cast(_head(noise, self.n_chains) < h_neg, h_neg.dtype))
            h_data = ops.cast(_head(noise, rows) < _head(h_pos, rows), h_pos.dtype)
            reconstruction = self._visible_mean(self._visible_logits(h_data))
        n_pos, n_neg = (_rows_as(t, v.dtype) for t in (v, v_neg))
        # v-^T h- / n_neg - v+^T h+ / n_pos as ONE product over the stacked rows: no separate
        # scaling and subtraction passes over the (visible x hidden) matrix.
        grad_kernel = _fused.matmul(
            ops.concatenate([v_neg, v], axis=0),
            ops.concatenate([h_neg / n_neg, h_pos / -n_pos], axis=0),
            transpose_a=True,
        )
        grad_hidden = ops.mean(h_neg, axis=0) - ops.mean(h_pos, axis=0)
        grad_visible = ops.mean(v_neg, axis=0) - ops.mean(v, axis=0)
        if self.weight_decay:
            grad_kernel = grad_kernel + self.weight_decay * self.kernel
        if self.sparsity_target is not None:
            excess = self.sparsity_cost * (ops.mean(h_pos, axis=0) - self.sparsity_target)
            grad_hidden = grad_hidden + excess
            grad_kernel = grad_kernel + ops.outer(ops.mean(v, axis=0), excess)
        return [grad_kernel, grad_hidden, grad_visible], (
            _head(v, rows),
            _head(positive_logits, rows),
            reconstruction,
        )

    def _update(self, v, seed=None):
        """One CD-k / PCD-k update on the batch `v`; returns the batch's metric statistics.
        `seed`: the seed-generator state for this update (default: the generator's next)."""
        _fused.begin_update(self, seed)
        try:
            grads, monitored = self._gradients(v)
            stats = self._statistics(
                *monitored
            )  # before the update: every metric sees one set of parameters
            self.optimizer.apply(grads, [self.kernel, self.hidden_bias, self.visible_bias])
            return stats
        finally:
            self._key = None

    def train_step(self, *args):
        """One update (or, fused, one epoch); `(data)`, or `(state, data)` on JAX."""
        return _backend.model_step(self, self._train_step, args, training=True)

    def test_step(self, *args):
        """Metrics of one batch; `(data)`, or `(state, data)` on JAX."""
        return _backend.model_step(self, self._test_step, args, training=False)

    def _train_step(self, data):
        v, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        v = ops.cast(v, self.kernel.dtype)
        if self._fused is not None:
            return self._record(_fused.epoch(self, v, *self._fused))
        return self._record(self._update(v))

    def _test_step(self, data):
        v, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        v = ops.cast(v, self.kernel.dtype)
        logits = self._hidden_logits(v)
        reconstruction = self._visible_mean(
            self._visible_logits(self._bernoulli(ops.sigmoid(logits)))
        )
        return self._monitor(v, logits, reconstruction)

    def compile(self, optimizer="rmsprop", *args, jit_compile="auto", **kwargs):
        """`keras.Model.compile`. `jit_compile="auto"` (the default) compiles the fused epoch
        of `fit` with XLA on the TensorFlow backend, CPU included (Keras' own "auto" turns XLA
        off on CPU-only machines); everything else (the unfused per-batch step, `evaluate`,
        `predict`) follows Keras' resolution of "auto". Pass `jit_compile=False` (or True)
        to choose for every path. The setting is saved with the model as "auto"."""
        super().compile(optimizer, *args, jit_compile=jit_compile, **kwargs)
        self._jit_auto = jit_compile == "auto"
        if self._jit_auto:
            self._compile_config.config["jit_compile"] = "auto"

    def compile_from_config(self, config):
        """What `keras.Model.compile_from_config` does, through this class's `compile` (Keras
        skips a custom `compile` on load)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def _build_from(self, x):
        """Build from the visible width of `x` (array, tensor or dataset) if not built yet."""
        if not self.built:
            self.build(_input_shape(x))

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        *,
        fused="auto",
        **kwargs,
    ):
        """`keras.Model.fit`, after checking array data for the visible units and adding
        the `free_energy_gap` log when validation data is given.

        `x` may be a SciPy sparse matrix (as scikit-learn's `BernoulliRBM.fit` takes): Keras'
        per-batch loop then receives its rows `batch_size` at a time, each batch densified
        on its own, never the whole matrix.

        `fused` (default "auto"): with an in-memory NumPy array or tensor `x` on the
        TensorFlow or JAX backend (and no `y`, `validation_split`, `steps_per_epoch`,
        `sample_weight` or `class_weight`), each epoch runs as ONE compiled call: the train
        step receives the whole array and loops over its minibatches of `batch_size`
        (default 32) inside the graph, the last partial batch, if any, as one more update,
        so the updates equal the unfused ones batch for batch (tested). Anything else
        (datasets, generators, those arguments) takes Keras' per-batch loop. `fused=True`
        insists and refuses what it cannot take, naming the argument; `fused=False` always
        takes the per-batch loop. With `compile(jit_compile="auto")`, the default, the fused
        epoch is compiled with XLA.

        Why these defaults (`python -m benchmarks.rbm_vs_sklearn --repeats 2`, 2-core CPU,
        steady-state seconds per epoch against scikit-learn's `BernoulliRBM`, PCD with
        plain SGD): at MNIST scale (784-500, batch 100) fused PCD runs 1.86x scikit-learn's
        speed under XLA and 1.29x as a plain graph, where the per-batch loop ran at about
        1.0x; on digits (64-128, batch 64) fused PCD runs 1.41x under XLA and 0.82x as a
        graph. The pseudo-log-likelihood after equal budgets is equal within the seed
        spread (15 seeds at MNIST scale: -124.8 vs scikit-learn's -124.5).

        `shuffle=True` draws a new in-graph permutation each epoch from the model's seed
        generator; `shuffle=False` keeps the array order. Metrics, the progress bar,
        epoch-level callbacks and `validation_data` (evaluated with `validation_batch_size`,
        default `batch_size`) work as usual; batch-level callbacks see one step per epoch.
        """
        if fused != "auto":
            check_bool("fused", fused)
        self._check_data("x", x)
        reason = _fused.unfit_reason(x, y, validation_split, kwargs)
        if fused is True and reason is not None:
            raise ValueError(f"Argument {reason}")
        fused = reason is None if fused == "auto" else fused
        if fused:
            batch_size = (
                32 if batch_size is None else check_int("batch_size", batch_size, minimum=1)
            )
            kwargs.setdefault("validation_batch_size", batch_size)
            self._fused = (batch_size, bool(shuffle), int(x.shape[0]))
        self._build_from(x)
        if validation_data is not None:
            val_x = (
                validation_data[0]
                if isinstance(validation_data, (tuple, list))
                else validation_data
            )
            self._check_data("validation_data", val_x)
        jit_compile = self.jit_compile  # fused under "auto": XLA for this fit, restored after
        if fused and getattr(self, "_jit_auto", False):
            self.jit_compile = True
        mode = (self._fused, self.jit_compile)
        if self._train_mode != mode:  # the cached train function traced another mode
            self.train_function = None
            self._train_mode = mode
        steps_per_execution = self.steps_per_execution  # fused: 1 while fitting, restored after
        callbacks = [_FreeEnergyGap()] + list(callbacks or [])
        if _fused.is_sparse(x):  # densified batch by batch, never as a whole
            batch_size = (
                32 if batch_size is None else check_int("batch_size", batch_size, minimum=1)
            )
            x = _fused.SparseBatches(x, batch_size, self.kernel.dtype)
            batch_size = None
        if fused:
            # One step per execution, so one call is exactly one epoch.
            x, feed = _fused.epoch_feed(x, self.kernel.dtype)
            batch_size = feed.pop("batch_size")
            kwargs.update(feed)
            self.steps_per_execution = 1
        try:
            return super().fit(
                x,
                y,
                batch_size=batch_size,
                epochs=epochs,
                verbose=verbose,
                callbacks=callbacks,
                validation_split=validation_split,
                validation_data=validation_data,
                shuffle=False if fused else shuffle,
                **kwargs,
            )
        finally:
            self._fused = None
            self.steps_per_execution = steps_per_execution
            self.jit_compile = jit_compile

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One CD-k / PCD-k update on the batch `x` (scikit-learn's `partial_fit`); builds
        the RBM from `x`'s width when it is not built yet."""
        self._check_data("x", x)
        self._build_from(x)
        if self._train_mode != (None, self.jit_compile):
            self.train_function = None
            self._train_mode = (None, self.jit_compile)
        return super().train_on_batch(x, y, sample_weight, class_weight, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """`keras.Model.test_on_batch`, building the RBM from `x` when not built yet."""
        self._build_from(x)
        return super().test_on_batch(x, y, sample_weight, return_dict)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.evaluate`, building the RBM from `x` when not built yet."""
        self._build_from(x)
        return super().evaluate(x, y, *args, **kwargs)

    def _check_data(self, name, x):
        """Raise when array data cannot feed these visible units (no-op by default)."""

    def get_config(self):
        config = super().get_config()
        config.update(
            n_hidden=self.n_hidden,
            k=self.k,
            persistent=self.persistent,
            n_chains=self.n_chains,
            weight_decay=self.weight_decay,
            sparsity_target=self.sparsity_target,
            sparsity_cost=self.sparsity_cost,
            seed=self.seed,
            monitor_fraction=self.monitor_fraction,
        )
        return config


@keras.saving.register_keras_serializable(package="kerasopt")
class BernoulliRBM(RBM):
    """RBM with binary visible units: p(v_i = 1 | h) = sigmoid(b_i + W_i.h), V(v) = -b.v.

    Smolensky (1986), Hinton (2002); Goodfellow et al., Deep Learning, sec. 20.2. Data must
    lie in [0, 1] (intensities are read as probabilities). Also logs
    `pseudo_log_likelihood`, the same stochastic estimate as scikit-learn's
    `BernoulliRBM.score_samples` (one random bit flipped per sample). See `RBM` for the
    arguments.

    Example:
        >>> import keras, numpy as np
        >>> x = (np.random.default_rng(0).uniform(size=(64, 6)) < 0.5).astype("float32")
        >>> from kerasopt.pretraining import BernoulliRBM
        >>> rbm = BernoulliRBM(4, persistent=True, n_chains=8, seed=0)
        >>> rbm.compile(optimizer=keras.optimizers.SGD(0.05))
        >>> history = rbm.fit(x, epochs=2, batch_size=16, verbose=0, fused=True)
        >>> sorted(history.history)
        ['free_energy', 'pseudo_log_likelihood', 'reconstruction_error']
        >>> rbm.transform(x).shape  # hidden probabilities
        (64, 4)

    References:
        Hinton, "Training Products of Experts by Minimizing Contrastive Divergence", Neural
        Computation 14(8), 2002; Tieleman, "Training Restricted Boltzmann Machines using
        Approximations to the Likelihood Gradient", ICML 2008; Hinton, "A Practical Guide to
        Training Restricted Boltzmann Machines", UTML TR 2010-003; Goodfellow et al., Deep
        Learning, sec. 20.2.
    """

    _tracks_pseudo_likelihood = True

    def score_samples(self, x):
        """Pseudo-log-likelihood of each row of `x`, as scikit-learn's
        `BernoulliRBM.score_samples` defines it: for each row v, flip one visible unit i drawn
        uniformly at random (a fresh draw per row and call) and return
        n_visible * log sigmoid(F(v with v_i flipped) - F(v)), F the free energy. Its
        expectation over i is n_visible times the mean over units of
        log p(v_i | v_-i) (Besag 1975). Builds the RBM from `x`'s width when not built yet.

        Args:
            x: 2-D array (samples, visible units) with values in [0, 1].

        Returns:
            a float32 NumPy array of one value per row.

        Example:
            >>> import numpy as np
            >>> from kerasopt.pretraining import BernoulliRBM
            >>> rbm = BernoulliRBM(4, seed=0)
            >>> x = np.zeros((3, 6), "float32")
            >>> scores = rbm.score_samples(x)  # untrained: about 6 * log(1/2) per row
            >>> scores.shape, bool(np.all(np.abs(scores - 6 * np.log(0.5)) < 0.1))
            ((3,), True)
        """
        self._check_data("x", x)
        values = np.asarray(x, dtype="float32")
        if values.ndim != 2:
            raise ValueError(
                f"Argument `x` must be 2-D (samples, visible units). Received: x with shape {values.shape}"
            )
        self._build_from(values)
        if values.shape[1] != self.kernel.shape[0]:
            raise ValueError(
                f"Argument `x` must have {self.kernel.shape[0]} columns (visible units). Received: x with shape {values.shape}"
            )
        v = ops.convert_to_tensor(values)
        logits = self._hidden_logits(v)
        return ops.convert_to_numpy(
            self._pseudo_log_likelihood(v, logits, self._free_energy_from(v, logits))
        )

    def _visible_mean(self, logits):
        return ops.sigmoid(logits)

    def _sample_visible(self, mean):
        return self._bernoulli(mean)

    def _visible_energy(self, v):
        return -ops.sum(v * self.visible_bias, axis=-1)

    def _check_data(self, name, x):
        if _fused.is_sparse(x):  # the stored values; the implicit zeros are in [0, 1]
            values = np.concatenate([x.tocsr().data, [0.0]])
        elif isinstance(x, np.ndarray) or hasattr(x, "numpy"):
            values = np.asarray(x)
        else:
            values = None
        if values is not None:
            low, high = float(values.min()), float(values.max())
            if low < 0.0 or high > 1.0:
                raise ValueError(
                    f"Argument `{name}` must hold values in [0, 1] for Bernoulli visible units "
                    f"(use GaussianBernoulliRBM for real-valued data). Received: {name} with values "
                    f"in [{low}, {high}]"
                )


@keras.saving.register_keras_serializable(package="kerasopt")
class GaussianBernoulliRBM(RBM):
    """RBM with real-valued visible units of unit variance: p(v | h) = N(b + W h, I),
    V(v) = ||v - b||^2 / 2, so F(v) = ||v - b||^2 / 2 - sum_j softplus(c_j + v.W_j).

    Hinton & Salakhutdinov (2006); Hinton (2010) sec. 13.2; Goodfellow et al., Deep
    Learning, sec. 20.5.1. Standardize each input to zero mean and unit variance first.
    Use a learning rate one or two orders of magnitude below the Bernoulli one. No
    pseudo-likelihood is logged (bit flips are meaningless for real values). See `RBM` for
    the arguments.

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.pretraining import GaussianBernoulliRBM
        >>> x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")  # standardized data
        >>> rbm = GaussianBernoulliRBM(4, seed=0)
        >>> rbm.compile(optimizer=keras.optimizers.SGD(0.005))
        >>> _ = rbm.fit(x, epochs=1, batch_size=16, verbose=0)
        >>> tuple(rbm.gibbs(x[:2], steps=1).shape)
        (2, 6)

    References:
        Hinton, "Training Products of Experts by Minimizing Contrastive Divergence", Neural
        Computation 14(8), 2002; Tieleman, "Training Restricted Boltzmann Machines using
        Approximations to the Likelihood Gradient", ICML 2008; Hinton, "A Practical Guide to
        Training Restricted Boltzmann Machines", UTML TR 2010-003; Goodfellow et al., Deep
        Learning, sec. 20.2.
    """

    def _visible_mean(self, logits):
        return logits

    def _sample_visible(self, mean):
        return mean + self._normal(ops.shape(mean))

    def _visible_energy(self, v):
        return 0.5 * ops.sum(ops.square(v - self.visible_bias), axis=-1)
