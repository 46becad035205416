"""Greedy layer-wise pretraining without RBMs: supervised, and by (denoising) autoencoders.

- `greedy_supervised`: Bengio, Lamblin, Popovici & Larochelle (2007), "Greedy layer-wise
  training of deep networks": each new hidden layer is trained, with a temporary softmax
  output layer, on the fixed outputs of the layers below.
- `stacked_autoencoder`: the same paper's autoencoder variant, and with `noise > 0` the
  stacked denoising autoencoder of Vincent, Larochelle, Bengio & Manzagol (2008), whose
  encoder learns to reconstruct inputs from a copy with a fraction `noise` of them zeroed.

Course: Goodfellow et al., Deep Learning, sec. 8.7.5 (greedy supervised pretraining),
sec. 14.2.2 (denoising autoencoders) and sec. 15.1. Both return initialized `keras.Sequential`
models of Dense layers, ready for `compile` / `fit` (fine-tuning of the whole stack).
"""

import keras
import numpy as np
from keras import ops

from kerasopt._validation import check_int, check_range
from kerasopt.pretraining.dbn import _dense_from


def _check_sizes(hidden_sizes):
    if not isinstance(hidden_sizes, (list, tuple)) or not hidden_sizes:
        raise ValueError(
            f"Argument `hidden_sizes` must be a non-empty list of integers. Received: hidden_sizes={hidden_sizes!r}"
        )
    return [check_int(f"hidden_sizes[{i}]", n, minimum=1) for i, n in enumerate(hidden_sizes)]


def _as_matrix(x):
    x = np.asarray(x, dtype="float32")
    if x.ndim != 2:
        raise ValueError(
            f"Argument `x` must be 2-D (n_samples, n_features). Received: x with shape {x.shape}"
        )
    return x


def _copy(layer, name):
    """A fresh Dense layer (own variables) with `layer`'s weights and activation."""
    weights, bias = layer.get_weights()
    return _dense_from(weights, bias, layer.get_config()["activation"], name)


def _dense(units, activation, seed, name):
    return keras.layers.Dense(
        units,
        activation=activation,
        kernel_initializer=keras.initializers.GlorotUniform(seed),
        name=name,
    )


def _fit(model, optimizer, loss, x, y, epochs, batch_size, verbose):
    model.compile(
        optimizer=keras.optimizers.get(keras.optimizers.serialize(keras.optimizers.get(optimizer))),
        loss=loss,
    )
    return model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=verbose)


def _stack(n_inputs, layers, name):
    return keras.Sequential([keras.Input((n_inputs,)), *layers], name=name)


def greedy_supervised(
    x,
    y,
    hidden_sizes,
    n_classes,
    epochs=5,
    batch_size=32,
    optimizer="adam",
    activation="sigmoid",
    seed=None,
    verbose=0,
):
    """Greedy layer-wise supervised pretraining (Bengio et al. 2007).

    Layer i is trained together with a temporary softmax layer (sparse categorical
    cross-entropy) on the outputs of the already trained, frozen layers 0..i-1.

    Args:
        x: inputs, 2-D array.
        y: integer labels in [0, n_classes).
        hidden_sizes: units per hidden layer, bottom first.
        n_classes: number of classes (>= 2).
        epochs: per stage.
        batch_size: per stage.
        optimizer: Keras optimizer (identifier, config or instance; copied per stage).
        activation: hidden activation.
        seed: integer or None, for the Glorot-uniform initializers (layer i: seed + i).
        verbose: passed to `fit`.

    Returns:
        `keras.Sequential`: the trained hidden layers and the last stage's softmax layer.

    Example:
        >>> import numpy as np
        >>> from kerasopt.pretraining import greedy_supervised
        >>> x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
        >>> model = greedy_supervised(x, (x[:, 0] > 0).astype("int64"), [6, 5], n_classes=2, epochs=1, seed=0)
        >>> [layer.units for layer in model.layers]
        [6, 5, 2]

    References:
        Bengio, Lamblin, Popovici & Larochelle, "Greedy Layer-Wise Training of Deep Networks",
        NeurIPS 2007.
    """
    hidden_sizes = _check_sizes(hidden_sizes)
    n_classes = check_int("n_classes", n_classes, minimum=2)
    check_int("epochs", epochs, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    x = _as_matrix(x)
    y = np.asarray(y)
    if len(y) != len(x) or y.min() < 0 or y.max() >= n_classes:
        raise ValueError(
            f"Argument `y` must hold {len(x)} integer labels in [0, {n_classes}). "
            f"Received: y with {len(y)} labels in [{y.min()}, {y.max()}]"
        )
    features, trained, head = x, [], None
    for i, units in enumerate(hidden_sizes):
        layer_seed = None if seed is None else seed + i
        hidden = _dense(units, activation, layer_seed, f"hidden_{i}")
        head = _dense(n_classes, "softmax", layer_seed, "softmax")
        stage = _stack(features.shape[1], [hidden, head], f"greedy_stage_{i}")
        _fit(
            stage,
            optimizer,
            "sparse_categorical_crossentropy",
            features,
            y,
            epochs,
            batch_size,
            verbose,
        )
        trained.append(hidden)
        features = ops.convert_to_numpy(hidden(features))
    layers = [_copy(layer, layer.name) for layer in trained] + [_copy(head, "softmax")]
    return _stack(x.shape[1], layers, "greedy_supervised")


def stacked_autoencoder(
    x,
    hidden_sizes,
    epochs=5,
    batch_size=32,
    optimizer="adam",
    activation="sigmoid",
    noise=0.0,
    n_classes=None,
    seed=None,
    verbose=0,
):
    """Greedy layer-wise autoencoder pretraining (Bengio et al. 2007), denoising when
    `noise > 0` (Vincent et al. 2008).

    Layer i is the encoder of a one-hidden-layer autoencoder trained to reconstruct the
    codes of layers 0..i-1 (layer 0: `x`). Reconstruction loss: binary cross-entropy with a
    sigmoid decoder when the layer's input lies in [0, 1], else mean squared error with a
    linear decoder. With `noise` = nu, a fraction nu of the inputs is zeroed (masking noise,
    drawn afresh for every batch) while the target stays clean.

    Args:
        x: inputs, 2-D array.
        hidden_sizes: units per encoder layer, bottom first.
        epochs: per layer.
        batch_size: per layer.
        optimizer: Keras optimizer (identifier, config or instance; copied per layer).
        activation: encoder activation.
        noise: masking fraction in [0, 1).
        n_classes: if given, a fresh softmax layer of `n_classes` units is put on top.
        seed: integer or None (initializers and masking noise).
        verbose: passed to `fit`.

    Returns:
        `keras.Sequential` of the trained encoder layers (plus the softmax layer).

    Example:
        >>> import numpy as np
        >>> from kerasopt.pretraining import stacked_autoencoder
        >>> x = np.random.default_rng(0).uniform(size=(32, 6)).astype("float32")
        >>> encoder = stacked_autoencoder(x, [4, 3], epochs=1, noise=0.2, seed=0)
        >>> encoder.predict(x[:2], verbose=0).shape
        (2, 3)

    References:
        Bengio et al., "Greedy Layer-Wise Training of Deep Networks", NeurIPS 2007; Vincent,
        Larochelle, Bengio & Manzagol, "Extracting and Composing Robust Features with Denoising
        Autoencoders", ICML 2008.
    """
    hidden_sizes = _check_sizes(hidden_sizes)
    check_int("epochs", epochs, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    check_range("noise", noise, 0, 1, high_inclusive=False)
    if n_classes is not None:
        n_classes = check_int("n_classes", n_classes, minimum=2)
    x = _as_matrix(x)
    features, encoders = x, []
    for i, units in enumerate(hidden_sizes):
        layer_seed = None if seed is None else seed + i
        binary = bool(features.min() >= 0.0 and features.max() <= 1.0)
        encoder = _dense(units, activation, layer_seed, f"encoder_{i}")
        decoder = _dense(
            features.shape[1], "sigmoid" if binary else "linear", layer_seed, f"decoder_{i}"
        )
        corrupt = (
            [keras.layers.Dropout(noise, seed=layer_seed), keras.layers.Rescaling(1.0 - noise)]
            if noise
            else []
        )
        autoencoder = _stack(features.shape[1], [*corrupt, encoder, decoder], f"autoencoder_{i}")
        loss = "binary_crossentropy" if binary else "mean_squared_error"
        _fit(autoencoder, optimizer, loss, features, features, epochs, batch_size, verbose)
        encoders.append(encoder)
        features = ops.convert_to_numpy(encoder(features))
    layers = [_copy(layer, layer.name) for layer in encoders]
    if n_classes is not None:
        layers.append(_dense(n_classes, "softmax", seed, "softmax"))
    return _stack(x.shape[1], layers, "stacked_autoencoder")
