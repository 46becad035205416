"""Hypermodels for `recipes.search`: a small classifier (digits, MNIST) and a two-phase
fine-tune of an ImageNet backbone built on `kerasopt.transfer`."""

import keras
import keras_tuner as kt

from kerasopt._validation import check_int, check_pair
from kerasopt.search import spaces


class SmallClassifier(kt.HyperModel):
    """An MLP classifier whose width, dropout, optimizer, rate and wrapper are searched.

    Hyperparameters: `units` (Int 16..256, log), `dropout` (0..0.5), and those of
    `spaces.optimizer` (optimizer, learning_rate, momentum) and `spaces.wrapper` (wrapper,
    average_method, lookahead_*). Compiled with sparse cross-entropy and accuracy.

    Example:
        >>> model = SmallClassifier((8, 8), 10).build(kt.HyperParameters())
        >>> model.output_shape, type(model.optimizer).__name__
        ((None, 10), 'Adam')
    """

    def __init__(
        self,
        input_shape,
        n_classes,
        optimizers=("adam", "sgd", "rmsprop_nesterov"),
        wrappers=spaces.WRAPPERS,
        learning_rate_range=(1e-4, 1.0),
    ):
        super().__init__(name="small_classifier")
        self.input_shape = tuple(input_shape)
        self.n_classes = check_int("n_classes", n_classes, minimum=2)
        self.optimizers, self.wrappers = list(optimizers), list(wrappers)
        self.learning_rate_range = check_pair(
            "learning_rate_range", learning_rate_range, positive=True
        )

    def build(self, hp):
        units = hp.Int("units", 16, 256, sampling="log")
        dropout = hp.Float("dropout", 0.0, 0.5)
        optimizer = spaces.wrapper(
            hp, spaces.optimizer(hp, self.optimizers, self.learning_rate_range), self.wrappers
        )
        model = keras.Sequential(
            [
                keras.Input(self.input_shape),
                keras.layers.Flatten(),
                keras.layers.Dense(units, activation="relu"),
                keras.layers.Dropout(dropout),
                keras.layers.Dense(self.n_classes, activation="softmax"),
            ]
        )
        model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model


class FineTuneHyperModel(kt.HyperModel):
    """Two-phase fine-tune (Yosinski et al. 2014; Howard & Ruder 2018) with searched settings.

    `build`: `kerasopt.transfer.backbone(backbone_name)` frozen (`freeze`) inside
    `build_classifier`, compiled for phase 1 (Adam at `head_learning_rate`, categorical
    cross-entropy with `label_smoothing`; labels one-hot). `fit`: phase 1 trains the head
    for `head_epochs`; phase 2 unfreezes the top `unfreeze_fraction` of the backbone
    (`unfreeze_fraction`) and trains `finetune_epochs` more with
    `discriminative_optimizer` (Adam at `finetune_learning_rate` for the backbone, at
    `head_learning_rate` for the head). keras-tuner's callbacks (its checkpoint included)
    see phase 2 only, so the score and the checkpoint are of the same model. The search
    space is `spaces.finetune`. Data: datasets of (images, one-hot labels), e.g. from
    `kerasopt.transfer.image_dataset` mapped through `one_hot`.
    """

    def __init__(
        self, backbone_name, n_classes, head_epochs=2, finetune_epochs=2, weights="imagenet"
    ):
        super().__init__(name="finetune")
        self.backbone_name, self.weights = backbone_name, weights
        self.n_classes = check_int("n_classes", n_classes, minimum=2)
        self.head_epochs = check_int("head_epochs", head_epochs, minimum=1)
        self.finetune_epochs = check_int("finetune_epochs", finetune_epochs, minimum=1)

    def build(self, hp):
        from kerasopt import transfer

        values = spaces.finetune(hp)
        base = transfer.backbone(self.backbone_name, weights=self.weights)
        transfer.freeze(base)
        model = transfer.build_classifier(base, self.n_classes)
        model.compile(
            keras.optimizers.Adam(values["head_learning_rate"]),
            keras.losses.CategoricalCrossentropy(label_smoothing=values["label_smoothing"]),
            metrics=["accuracy"],
        )
        return model

    def fit(self, hp, model, train, validation_data=None, callbacks=None, verbose="auto", **kwargs):
        from kerasopt import transfer

        values = spaces.finetune(hp)
        model.fit(train, epochs=self.head_epochs, validation_data=validation_data, verbose=verbose)
        base = model.get_layer("backbone").layer  # build_classifier's InferenceMode wrapper
        transfer.unfreeze_fraction(base, values["unfreeze_fraction"])
        optimizer = transfer.discriminative_optimizer(
            model,
            base,
            keras.optimizers.Adam(values["head_learning_rate"]),
            keras.optimizers.Adam(values["finetune_learning_rate"]),
        )
        model.compile(
            optimizer,
            keras.losses.CategoricalCrossentropy(label_smoothing=values["label_smoothing"]),
            metrics=["accuracy"],
        )
        return model.fit(
            train,
            epochs=self.head_epochs + self.finetune_epochs,
            initial_epoch=self.head_epochs,
            validation_data=validation_data,
            callbacks=callbacks,
            verbose=verbose,
            **kwargs,
        )


def one_hot(dataset, n_classes):
    """(images, int labels) batches -> (images, one-hot float labels), for label smoothing."""
    import tensorflow as tf

    return dataset.map(lambda x, y: (x, tf.one_hot(tf.cast(y, "int32"), n_classes)))
