"""The random-initialization baseline: the same classifier trained from scratch.

Source: the course's transfer-learning section (the comparison against training from scratch);
Yosinski et al., "How transferable are features in deep neural networks?", NeurIPS 2014.
"""

import keras

from kerasopt.transfer.fitting import fit_phase


def train_scratch(
    model, data, strategy, device, patience=3, callbacks=(), verbose="auto", progress=None
):
    """The random-initialization baseline: every layer trained from the start (BatchNormalization
    included) with Adam at `strategy.head_learning_rate` for `epochs_head + epochs_finetune`
    epochs, the budget of the two phases.

    Source: the course's transfer-learning section (the comparison against training from
    scratch; Yosinski et al., 2014).

    Args:
        model: the classifier (`build_classifier`, usually on a backbone with `weights=None`).
        data: an `ImageData`.
        strategy: a `FineTuneStrategy` (its epochs and `head_learning_rate`).
        device: a `DeviceSetup` (`configure_device`).
        patience: EarlyStopping patience on val_loss (best weights restored); None: no early
            stopping.
        callbacks: extra Keras callbacks.
        verbose: Keras `fit` verbosity.
        progress: the resume state of `kerasopt.transfer.run_folder`, or None.

    Returns:
        (history dict, phase metrics dict), as `train_head`.

    Example:
        >>> import keras, numpy as np, tensorflow as tf
        >>> from kerasopt.transfer import DeviceSetup, FineTuneStrategy, ImageData, build_classifier
        >>> base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="conv1"),
        ...                          keras.layers.BatchNormalization(name="bn"),
        ...                          keras.layers.Conv2D(4, 3, name="conv2")], name="base")
        >>> model = build_classifier(base, n_classes=2)
        >>> x = np.random.default_rng(0).uniform(0, 255, (8, 8, 8, 3)).astype("float32")
        >>> batches = tf.data.Dataset.from_tensor_slices((x, np.array([0, 1] * 4, "int32"))).batch(4)
        >>> data = ImageData(batches, batches, ["a", "b"], 8, 8, (8, 8), 4, "memory")
        >>> device = DeviceSetup(tf.distribute.get_strategy(), False, False, "CPU")
        >>> from kerasopt.transfer import freeze, train_scratch
        >>> _ = freeze(model)
        >>> strategy = FineTuneStrategy("tiny", unfreeze_fraction=0.0, epochs_head=1, epochs_finetune=2)
        >>> history, metrics = train_scratch(model, data, strategy, device, patience=None, verbose=0)
        >>> metrics["epochs"], model.trainable  # epochs_head + epochs_finetune, all unfrozen
        (3, True)
        >>> [w.name for w in model.non_trainable_weights]  # BatchNormalization's statistics only
        ['moving_mean', 'moving_variance']

    References:
        Yosinski et al., "How transferable are features in deep neural networks?", NeurIPS 2014.
    """
    model.trainable = True
    model.compile(
        optimizer=keras.optimizers.Adam(strategy.head_learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=device.jit_compile,
    )
    epochs = strategy.epochs_head + strategy.epochs_finetune
    return fit_phase(model, data, epochs, 0, patience, device, callbacks, verbose, progress)
