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
"""

import keras
import numpy as np
from keras import ops

from kerasopt._validation import check_bool, check_int, check_range


def _input_shape(x):
    """Shape of an array, tensor or `tf.data`-style dataset of `x` (or `(x, ...)`)."""
    spec = getattr(x, "element_spec", None)
    if spec is not None:
        return tuple((spec[0] if isinstance(spec, tuple) else spec).shape)
    if hasattr(x, "shape"):
        return tuple(x.shape)
    raise ValueError(
        "Argument `x` must be an array, a tensor or a dataset when the RBM is not built yet "
        f"(or call `build((None, n_visible))` first). Received: x of type {type(x).__name__}"
    )


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

    Logged metrics: `reconstruction_error` (mean squared error per visible unit of the
    visible means given a hidden sample drawn from the data), `free_energy` (mean F(v) on
    the data), and with validation data `val_*` and `free_energy_gap` (val minus train
    free energy; a growing gap signals overfitting, Hinton 2010 sec. 6).
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
        **kwargs,
    ):
        n_hidden = check_int("n_hidden", n_hidden, minimum=1)
        k = check_int("k", k, minimum=1)
        check_bool("persistent", persistent)
        n_chains = check_int("n_chains", n_chains, minimum=1)
        check_range("weight_decay", weight_decay, low=0)
        if sparsity_target is not None:
            check_range("sparsity_target", sparsity_target, 0, 1, low_inclusive=False, high_inclusive=False)
        check_range("sparsity_cost", sparsity_cost, low=0)
        if seed is not None:
            seed = check_int("seed", seed, minimum=0)
        super().__init__(**kwargs)
        self.n_hidden, self.k, self.persistent, self.n_chains = n_hidden, k, persistent, n_chains
        self.weight_decay, self.sparsity_cost = float(weight_decay), float(sparsity_cost)
        self.sparsity_target = None if sparsity_target is None else float(sparsity_target)
        self.seed = seed
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
        self.hidden_bias = self.add_weight(shape=(self.n_hidden,), initializer="zeros", name="hidden_bias")
        self.visible_bias = self.add_weight(shape=(n_visible,), initializer="zeros", name="visible_bias")
        if self.persistent:
            self.chain = self.add_weight(
                shape=(self.n_chains, self.n_hidden), initializer="zeros", trainable=False, name="chain"
            )

    @property
    def metrics(self):
        trackers = [self.reconstruction_tracker, self.free_energy_tracker]
        return trackers + [self.pll_tracker] if self._tracks_pseudo_likelihood else trackers

    # ---- conditionals and energies -------------------------------------------------------

    def _hidden_logits(self, v):
        return ops.matmul(v, self.kernel) + self.hidden_bias

    def _visible_logits(self, h):
        return ops.matmul(h, ops.transpose(self.kernel)) + self.visible_bias

    def _random(self, kind, shape):
        """`uniform` or `normal` noise from the layer's seed generator. On the TensorFlow
        backend (TF-only branch) it draws with the Philox algorithm: under XLA on CPU the
        default ThreeFry generator costs more than the RBM's matrix products."""
        if keras.backend.backend() != "tensorflow":
            return getattr(keras.random, kind)(shape, dtype=self.kernel.dtype, seed=self.seed_generator)
        import tensorflow as tf

        seed = tf.cast(tf.math.floormod(self.seed_generator.next(), tf.int32.max - 1), "int32")
        draw = tf.random.stateless_uniform if kind == "uniform" else tf.random.stateless_normal
        return draw(shape, seed=seed, dtype=self.kernel.dtype, alg="philox")

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

    def _monitor(self, v, hidden_logits, reconstruction):
        """Update the metric trackers from a batch and return the logs."""
        self.reconstruction_tracker.update_state(ops.mean(ops.square(v - reconstruction)))
        free_energy = self._free_energy_from(v, hidden_logits)
        self.free_energy_tracker.update_state(free_energy)
        if self._tracks_pseudo_likelihood:
            self.pll_tracker.update_state(self._pseudo_log_likelihood(v, hidden_logits, free_energy))
        return {m.name: m.result() for m in self.metrics}

    def _pseudo_log_likelihood(self, v, hidden_logits, free_energy):
        """scikit-learn's estimate: flip one random visible unit i per row and return
        n_visible * log sigmoid(F(v with v_i flipped) - F(v)). The flip changes the hidden
        logits by +-W_i, so no extra matrix product is needed."""
        n_visible = ops.shape(v)[-1]
        uniform = self._uniform(ops.shape(v)[:1])
        index = ops.minimum(ops.cast(uniform * ops.cast(n_visible, v.dtype), "int32"), n_visible - 1)
        flip = ops.one_hot(index, n_visible, dtype=v.dtype) * (1.0 - 2.0 * v)
        sign = ops.sum(flip, axis=-1, keepdims=True)
        flipped_logits = hidden_logits + sign * ops.take(self.kernel, index, axis=0)
        flipped_energy = self._free_energy_from(v + flip, flipped_logits)
        return ops.cast(n_visible, v.dtype) * ops.log_sigmoid(flipped_energy - free_energy)

    def _gradients(self, v):
        """Negated CD-k / PCD-k statistics for (kernel, hidden_bias, visible_bias), plus the
        reconstruction used for monitoring and the positive-phase hidden logits."""
        positive_logits = self._hidden_logits(v)
        h_pos = ops.sigmoid(positive_logits)
        h0 = self._bernoulli(h_pos)
        h = self.chain if self.persistent else h0
        reconstruction = None
        for step in range(self.k):
            v_mean = self._visible_mean(self._visible_logits(h))
            if reconstruction is None and not self.persistent:
                reconstruction = v_mean
            v_neg = self._sample_visible(v_mean)
            h_neg = ops.sigmoid(self._hidden_logits(v_neg))
            if step < self.k - 1 or self.persistent:
                h = self._bernoulli(h_neg)
        if self.persistent:
            self.chain.assign(h)
            reconstruction = self._visible_mean(self._visible_logits(h0))
        n_pos = ops.cast(ops.shape(v)[0], v.dtype)
        n_neg = ops.cast(ops.shape(v_neg)[0], v.dtype)
        grad_kernel = ops.matmul(ops.transpose(v_neg), h_neg) / n_neg - ops.matmul(ops.transpose(v), h_pos) / n_pos
        grad_hidden = ops.mean(h_neg, axis=0) - ops.mean(h_pos, axis=0)
        grad_visible = ops.mean(v_neg, axis=0) - ops.mean(v, axis=0)
        if self.weight_decay:
            grad_kernel = grad_kernel + self.weight_decay * self.kernel
        if self.sparsity_target is not None:
            excess = self.sparsity_cost * (ops.mean(h_pos, axis=0) - self.sparsity_target)
            grad_hidden = grad_hidden + excess
            grad_kernel = grad_kernel + ops.outer(ops.mean(v, axis=0), excess)
        return [grad_kernel, grad_hidden, grad_visible], positive_logits, reconstruction

    def train_step(self, data):
        v, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        v = ops.cast(v, self.kernel.dtype)
        grads, positive_logits, reconstruction = self._gradients(v)
        self.optimizer.apply(grads, [self.kernel, self.hidden_bias, self.visible_bias])
        return self._monitor(v, positive_logits, reconstruction)

    def test_step(self, data):
        v, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        v = ops.cast(v, self.kernel.dtype)
        logits = self._hidden_logits(v)
        reconstruction = self._visible_mean(self._visible_logits(self._bernoulli(ops.sigmoid(logits))))
        return self._monitor(v, logits, reconstruction)

    def fit(self, x=None, y=None, *args, callbacks=None, validation_data=None, **kwargs):
        """`keras.Model.fit`, after checking array data for the visible units and adding
        the `free_energy_gap` log when validation data is given."""
        self._check_data("x", x)
        if not self.built:
            self.build(_input_shape(x))
        if validation_data is not None:
            val_x = validation_data[0] if isinstance(validation_data, (tuple, list)) else validation_data
            self._check_data("validation_data", val_x)
        callbacks = [_FreeEnergyGap()] + list(callbacks or [])
        return super().fit(x, y, *args, callbacks=callbacks, validation_data=validation_data, **kwargs)

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
        rbm = BernoulliRBM(256, persistent=True, n_chains=100)
        rbm.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.5))
        rbm.fit(x, epochs=10, batch_size=100, validation_data=(x_val,))
        features = rbm.transform(x)
    """

    _tracks_pseudo_likelihood = True

    def _visible_mean(self, logits):
        return ops.sigmoid(logits)

    def _sample_visible(self, mean):
        return self._bernoulli(mean)

    def _visible_energy(self, v):
        return -ops.sum(v * self.visible_bias, axis=-1)

    def _check_data(self, name, x):
        if isinstance(x, np.ndarray) or hasattr(x, "numpy"):
            values = np.asarray(x)
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
    """

    def _visible_mean(self, logits):
        return logits

    def _sample_visible(self, mean):
        return mean + self._normal(ops.shape(mean))

    def _visible_energy(self, v):
        return 0.5 * ops.sum(ops.square(v - self.visible_bias), axis=-1)
