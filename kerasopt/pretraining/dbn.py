"""Deep belief network: a stack of RBMs pretrained greedily, layer by layer.

Hinton, Osindero & Teh (2006), "A fast learning algorithm for deep belief nets": train an
RBM on the data, then train the next RBM on the first one's hidden probabilities, and so
on; the stacked weights then initialize a feed-forward network that is fine-tuned with
labels (`to_classifier`) or an unrolled deep autoencoder (`to_autoencoder`, Hinton &
Salakhutdinov 2006, "Reducing the dimensionality of data with neural networks").
Course: Goodfellow et al., Deep Learning, sec. 15.1 (greedy layer-wise unsupervised
pretraining) and sec. 20.3 (deep belief networks).
"""

import keras
import numpy as np
from keras import ops

from kerasopt._validation import check_choice, check_int
from kerasopt.pretraining.rbm import BernoulliRBM, GaussianBernoulliRBM


def _dense_from(weights, bias, activation, name):
    """A built Dense layer holding exactly `weights` and `bias`."""
    layer = keras.layers.Dense(weights.shape[1], activation=activation, name=name)
    layer.build((None, weights.shape[0]))
    layer.set_weights([weights, bias])
    return layer


@keras.saving.register_keras_serializable(package="kerasopt")
class DBN(keras.Model):
    """A stack of RBMs, `hidden_sizes[i]` hidden units in the i-th; `DBN(x)` is the top
    layer's hidden probabilities (a deterministic up-pass).

    Args:
        hidden_sizes: hidden units per RBM, bottom first (non-empty, each >= 1).
        visible: visible units of the first RBM: "bernoulli", "gaussian" (standardized
            real-valued data), or "auto" (decided by `pretrain`: Bernoulli when every value
            lies in [0, 1], Gaussian otherwise). Upper RBMs are always Bernoulli: they model
            hidden probabilities.
        k: passed to every RBM (see `kerasopt.pretraining.RBM`), as are the next five.
        persistent: passed to every RBM.
        n_chains: passed to every RBM.
        weight_decay: passed to every RBM.
        sparsity_target: passed to every RBM.
        sparsity_cost: passed to every RBM.
        monitor_fraction: passed to every RBM.
        seed: integer or None; RBM i gets `seed + i`.

    Example:
        >>> import keras, numpy as np
        >>> x = (np.random.default_rng(0).uniform(size=(64, 6)) < 0.5).astype("float32")
        >>> from kerasopt.pretraining import DBN
        >>> dbn = DBN([5, 3], seed=0)
        >>> _ = dbn.pretrain(x, epochs=1, batch_size=16, verbose=0)
        >>> clf = dbn.to_classifier(2)  # sigmoid layers holding the RBMs' weights, fresh softmax
        >>> [layer.units for layer in clf.layers]
        [5, 3, 2]
        >>> bool(np.array_equal(clf.layers[0].kernel.numpy(), dbn.rbms[0].kernel.numpy()))
        True

    References:
        Hinton, Osindero & Teh, "A fast learning algorithm for deep belief nets", Neural
        Computation 18(7), 2006; Hinton & Salakhutdinov, "Reducing the Dimensionality of Data
        with Neural Networks", Science 313, 2006.
    """

    def __init__(
        self,
        hidden_sizes,
        visible="auto",
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
        if not isinstance(hidden_sizes, (list, tuple)) or not hidden_sizes:
            raise ValueError(
                f"Argument `hidden_sizes` must be a non-empty list of integers. Received: hidden_sizes={hidden_sizes!r}"
            )
        hidden_sizes = [
            check_int(f"hidden_sizes[{i}]", n, minimum=1) for i, n in enumerate(hidden_sizes)
        ]
        check_choice("visible", visible, ("auto", "bernoulli", "gaussian"))
        self.rbm_options = dict(
            k=k,
            persistent=persistent,
            n_chains=n_chains,
            weight_decay=weight_decay,
            sparsity_target=sparsity_target,
            sparsity_cost=sparsity_cost,
            monitor_fraction=monitor_fraction,
        )
        # Building the stack validates every RBM argument before any work, even for "auto".
        rbms = self._make_rbms(hidden_sizes, "bernoulli" if visible == "auto" else visible, seed)
        super().__init__(**kwargs)
        self.hidden_sizes, self.visible, self.seed = hidden_sizes, visible, seed
        self.rbms = [] if visible == "auto" else rbms

    def _make_rbms(self, hidden_sizes, visible, seed):
        rbms = []
        for i, n_hidden in enumerate(hidden_sizes):
            cls = GaussianBernoulliRBM if (i == 0 and visible == "gaussian") else BernoulliRBM
            rbm_seed = None if seed is None else seed + i
            rbms.append(cls(n_hidden, seed=rbm_seed, name=f"rbm_{i}", **self.rbm_options))
        return rbms

    def build(self, input_shape):
        shape = tuple(input_shape)
        for rbm in self.rbms:
            if not rbm.built:
                rbm.build(shape)
            shape = shape[:-1] + (rbm.n_hidden,)

    def call(self, inputs):
        for rbm in self.rbms:
            inputs = rbm(inputs)
        return inputs

    def pretrain(
        self,
        x,
        epochs=10,
        batch_size=100,
        optimizer=None,
        validation_data=None,
        compile_kwargs=None,
        **fit_kwargs,
    ):
        """Greedy layer-wise training: RBM i is fit on RBM i-1's hidden probabilities.

        Args:
            x: training data, 2-D array (n_samples, n_visible).
            epochs: per RBM, passed to `fit`.
            batch_size: per RBM, passed to `fit`.
            optimizer: a Keras optimizer (identifier, config or instance; each RBM gets a
                fresh copy) or a list with one per RBM. Default SGD(0.05, momentum=0.5) for
                Bernoulli RBMs and SGD(0.005, momentum=0.5) for a Gaussian first layer.
            validation_data: held-out x, propagated upward like `x` (enables the
                free-energy-gap log).
            compile_kwargs: extra `compile` arguments (e.g. `jit_compile`,
                `steps_per_execution`).
            **fit_kwargs: passed to every `fit` (callbacks, verbose, ...).

        Returns:
            a list with each RBM's `History.history`.
        """
        check_int("epochs", epochs, minimum=1)
        check_int("batch_size", batch_size, minimum=1)
        x = np.asarray(x, dtype="float32")
        if x.ndim != 2:
            raise ValueError(
                f"Argument `x` must be 2-D (n_samples, n_visible). Received: x with shape {x.shape}"
            )
        optimizers = (
            list(optimizer)
            if isinstance(optimizer, (list, tuple))
            else [optimizer] * len(self.hidden_sizes)
        )
        if len(optimizers) != len(self.hidden_sizes):
            raise ValueError(
                f"Argument `optimizer` must be one optimizer or one per RBM ({len(self.hidden_sizes)}). "
                f"Received: optimizer with {len(optimizers)} entries"
            )
        if self.visible == "auto":
            self.visible = "bernoulli" if (x.min() >= 0.0 and x.max() <= 1.0) else "gaussian"
            self.rbms = self._make_rbms(self.hidden_sizes, self.visible, self.seed)
        val = None if validation_data is None else np.asarray(validation_data, dtype="float32")
        histories = []
        for rbm, opt in zip(self.rbms, optimizers, strict=True):
            if opt is None:
                gaussian = isinstance(rbm, GaussianBernoulliRBM)
                opt = keras.optimizers.SGD(0.005 if gaussian else 0.05, momentum=0.5)
            opt = keras.optimizers.get(keras.optimizers.serialize(keras.optimizers.get(opt)))
            rbm.compile(optimizer=opt, **(compile_kwargs or {}))
            history = rbm.fit(
                x,
                epochs=epochs,
                batch_size=batch_size,
                validation_data=None if val is None else (val,),
                **fit_kwargs,
            )
            histories.append(history.history)
            x = rbm.transform(x)
            val = None if val is None else rbm.transform(val)
        if not self.built:
            self.build((None, self.rbms[0].kernel.shape[0]))
        return histories

    def _require_pretrained(self):
        if not self.rbms or not all(rbm.built for rbm in self.rbms):
            raise ValueError("The DBN has no trained RBMs yet: call `pretrain(x, ...)` first.")

    def to_classifier(self, n_classes, seed=None, name="dbn_classifier"):
        """A `keras.Sequential` MLP: sigmoid Dense layers holding the RBMs' weights and
        hidden biases, then a fresh (Glorot-uniform, zero-bias) softmax layer of
        `n_classes` units. Ready for `compile` / `fit` (fine-tuning)."""
        n_classes = check_int("n_classes", n_classes, minimum=2)
        self._require_pretrained()
        layers = [
            _dense_from(
                ops.convert_to_numpy(r.kernel),
                ops.convert_to_numpy(r.hidden_bias),
                "sigmoid",
                f"hidden_{i}",
            )
            for i, r in enumerate(self.rbms)
        ]
        head = keras.layers.Dense(
            n_classes,
            activation="softmax",
            kernel_initializer=keras.initializers.GlorotUniform(seed),
            name="softmax",
        )
        return keras.Sequential(
            [keras.Input((self.rbms[0].kernel.shape[0],)), *layers, head], name=name
        )

    def to_autoencoder(self, name="dbn_autoencoder"):
        """The unrolled deep autoencoder of Hinton & Salakhutdinov (2006): encoder Dense
        layers (W_i, c_i, sigmoid), then decoder Dense layers (W_i^T, b_i) in reverse order,
        sigmoid except the output, which is sigmoid for Bernoulli data and linear for
        Gaussian data. Weights start tied but are separate variables (untied fine-tuning,
        as in the paper); the code layer is logistic here (the paper used linear code units)."""
        self._require_pretrained()
        encoder = [
            _dense_from(
                ops.convert_to_numpy(r.kernel),
                ops.convert_to_numpy(r.hidden_bias),
                "sigmoid",
                f"encoder_{i}",
            )
            for i, r in enumerate(self.rbms)
        ]
        decoder = []
        for i in reversed(range(len(self.rbms))):
            rbm = self.rbms[i]
            linear = i == 0 and isinstance(rbm, GaussianBernoulliRBM)
            decoder.append(
                _dense_from(
                    ops.convert_to_numpy(rbm.kernel).T,
                    ops.convert_to_numpy(rbm.visible_bias),
                    "linear" if linear else "sigmoid",
                    f"decoder_{i}",
                )
            )
        return keras.Sequential(
            [keras.Input((self.rbms[0].kernel.shape[0],)), *encoder, *decoder], name=name
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_sizes=list(self.hidden_sizes),
            visible=self.visible,
            seed=self.seed,
            **self.rbm_options,
        )
        return config
