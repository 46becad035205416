"""Phase 1: a new head trained on the frozen backbone, on cached features or on images.

Source: the course's transfer-learning section and Keras' transfer-learning guide (feature
extraction: the frozen base run once, a new classifier trained on its outputs); the one-cycle
schedule after an LR range test follows fastai's `fit_one_cycle` (Smith & Topin, 2017). No file
I/O: checkpoints and the resume state come in from `kerasopt.transfer.run_folder`.
"""

import math

import keras
import numpy as np

from kerasopt._validation import check_int, check_positive
from kerasopt.schedules import OneCycle
from kerasopt.transfer.features import head_model
from kerasopt.transfer.fitting import PhaseTimer, epoch_batches, fit_phase, resumable_fit
from kerasopt.transfer.freezing import freeze
from kerasopt.transfer.losses import classifier_loss


def train_head_on_features(
    model,
    train,
    val,
    learning_rate,
    epochs=100,
    patience=10,
    batch_size=32,
    class_weight=None,
    label_smoothing=0.0,
    verbose=0,
    callbacks=(),
    progress=None,
):
    """Phase 1 on cached features: train the head of `model` (its "head_dropout" rate and a
    new "head" `Dense`) on (features, labels) arrays, then copy the weights into `model`.

    Source: the course's linear classifier on a frozen ImageNet network; Keras'
    transfer-learning guide (feature extraction: the base model run once, the head trained on
    its outputs). Adam on a one-cycle schedule peaking at `learning_rate`
    (`kerasopt.schedules.OneCycle`; Smith & Topin, 2017; fastai's `fit_one_cycle` after
    `lr_find`); early stopping on the validation loss with the best weights restored.

    Args:
        model: the classifier (`build_classifier`).
        train: (features, labels) of the training images (`cache_features`).
        val: (features, labels) of the validation images.
        learning_rate: the one-cycle schedule's peak rate (> 0), e.g. from `lr_range_test`.
        epochs: the most epochs (>= 1).
        patience: EarlyStopping patience on val_loss (>= 1).
        batch_size: batch size (>= 1).
        class_weight: None or {class: weight} (`kerasopt.transfer.auto.class_weights`).
        label_smoothing: in [0, 1) (`SparseSmoothedCrossentropy`).
        verbose: Keras `fit` verbosity.
        callbacks: extra Keras callbacks (they see the head model).
        progress: the resume state of `kerasopt.transfer.run_folder`, or None (see
            `fit_phase`). The training features are shuffled every epoch with the epoch's
            index as seed, so a resumed phase sees the batches an uninterrupted one would.

    Returns:
        (history dict, metrics dict: val_accuracy, val_loss, train_accuracy, epochs, seconds,
        images_per_second (training images per second over the epochs run),
        learning_rate).

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.transfer import build_classifier
        >>> from kerasopt.transfer.head import train_head_on_features
        >>> base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)], name="base")
        >>> model = build_classifier(base, n_classes=2)
        >>> rng = np.random.default_rng(0)
        >>> y = np.arange(40) % 2
        >>> x = (rng.normal(size=(40, 4)) + 3 * y[:, None]).astype("float32")  # separable
        >>> keras.utils.set_random_seed(0)  # the head's initial weights and dropout
        >>> history, metrics = train_head_on_features(
        ...     model, (x, y), (x, y), 0.1, epochs=100, batch_size=8)
        >>> metrics["val_accuracy"] >= 0.9
        True
        >>> head = keras.Model(model.get_layer("head").input, model.get_layer("head").output)
        >>> bool(np.allclose(np.asarray(head(x)).argmax(1), y) or metrics["val_accuracy"] < 1)
        True
    """
    check_positive("learning_rate", learning_rate)
    check_int("epochs", epochs, minimum=1)
    check_int("patience", patience, minimum=1)
    (x_train, y_train), (x_val, y_val) = train, val
    dropout = model.get_layer("head_dropout").rate
    n_classes = model.get_layer("head").units
    head = head_model(x_train.shape[1], n_classes, dropout)
    steps = epochs * math.ceil(len(x_train) / batch_size)
    # a one-step fit has no cycle (OneCycle needs two steps): its one step at the peak rate
    rate = OneCycle(learning_rate, total_steps=steps) if steps >= 2 else learning_rate
    head.compile(
        optimizer=keras.optimizers.Adam(rate),
        loss=classifier_loss(label_smoothing),
        metrics=["accuracy"],
    )
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True
    )
    n_train = len(x_train)
    steps_per_epoch = math.ceil(n_train / batch_size)
    weights = None
    if class_weight is not None:
        weights = np.array([class_weight.get(int(label), 1.0) for label in y_train], "float32")
    timer = PhaseTimer(n_train)

    def fit(done, all_callbacks):
        return head.fit(
            epoch_batches([x_train], y_train, batch_size, done, epochs, weights),
            steps_per_epoch=steps_per_epoch,
            shuffle=False,  # epoch_batches shuffles
            epochs=epochs,
            initial_epoch=done,
            validation_data=(x_val, y_val),
            callbacks=all_callbacks,
            verbose=verbose,
        )

    history = resumable_fit(head, fit, epochs, timer, stopper, callbacks, progress)
    model.get_layer("head").set_weights(head.get_layer("head").get_weights())
    val_loss, val_accuracy = head.evaluate(x_val, y_val, batch_size=256, verbose=0)
    _, train_accuracy = head.evaluate(x_train, y_train, batch_size=256, verbose=0)
    n_epochs = len(history["loss"])
    return history, {
        "val_accuracy": float(val_accuracy),
        "val_loss": float(val_loss),
        "train_accuracy": float(train_accuracy),
        "epochs": n_epochs,
        "seconds": round(timer.wall, 2),
        "images_per_second": round(timer.images / timer.seconds, 2) if timer.seconds else None,
        "learning_rate": float(learning_rate),
    }


def compile_head(model, base, strategy, device):
    """Phase 1's setup: `base` frozen, Adam at `strategy.head_learning_rate` for the rest."""
    freeze(base)
    model.compile(
        optimizer=keras.optimizers.Adam(strategy.head_learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=device.jit_compile,
    )


def train_head(
    model, base, data, strategy, device, patience=3, callbacks=(), verbose="auto", progress=None
):
    """Phase 1: freeze `base`, train the rest of `model` with Adam at `strategy.head_learning_rate`
    for `strategy.epochs_head` epochs (`fit_phase`: early stopping, `callbacks`, `progress`).

    Source: the course's transfer-learning section and Keras' transfer-learning guide: a new
    head trained on the frozen ImageNet backbone.

    Args:
        model: the classifier (`build_classifier`), `base` inside it.
        base: the backbone, frozen here.
        data: an `ImageData`.
        strategy: a `FineTuneStrategy`.
        device: a `DeviceSetup` (`configure_device`).
        patience: EarlyStopping patience on val_loss (best weights restored); None: no early
            stopping.
        callbacks: extra Keras callbacks.
        verbose: Keras `fit` verbosity.
        progress: the resume state of `kerasopt.transfer.run_folder`, or None.

    Returns:
        (Keras history dict, phase metrics dict): val_accuracy, val_loss, epochs, seconds,
        images_per_second, device, mixed_precision, xla.

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
        >>> before = base.get_weights()
        >>> strategy = FineTuneStrategy("tiny", unfreeze_fraction=0.0, epochs_head=2, epochs_finetune=0)
        >>> from kerasopt.transfer import train_head
        >>> history, metrics = train_head(model, base, data, strategy, device, verbose=0)
        >>> len(history["loss"]), metrics["epochs"], metrics["device"]
        (2, 2, 'CPU')
        >>> all(np.array_equal(a, b) for a, b in zip(before, base.get_weights()))  # frozen backbone
        True
    """
    compile_head(model, base, strategy, device)
    return fit_phase(
        model, data, strategy.epochs_head, 0, patience, device, callbacks, verbose, progress
    )
