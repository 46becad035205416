"""The training loss of the classifier: sparse cross-entropy with label smoothing.

Source: Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016, sec. 7.
"""

import keras

from kerasopt._validation import check_range


@keras.saving.register_keras_serializable(package="kerasopt")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels with label smoothing: the target of an image of class y
    is (1 - label_smoothing) on y plus label_smoothing / K on every class.

    Source: Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016, sec. 7 (label
    smoothing); Keras' `SparseCategoricalCrossentropy` has no `label_smoothing`, so the labels
    are one-hot encoded here and passed to `keras.losses.categorical_crossentropy`.

    Args:
        label_smoothing: in [0, 1); 0 is the plain sparse cross-entropy.

    Example:
        >>> import numpy as np
        >>> from kerasopt.transfer.losses import SparseSmoothedCrossentropy
        >>> probs = np.array([[0.8, 0.2]], "float32")
        >>> loss = SparseSmoothedCrossentropy(0.1)(np.array([0]), probs)  # target (0.95, 0.05)
        >>> round(float(loss), 4) == round(float(-(0.95 * np.log(0.8) + 0.05 * np.log(0.2))), 4)
        True

    References:
        Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016.
    """

    def __init__(self, label_smoothing=0.0, name="sparse_smoothed_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = check_range(
            "label_smoothing", label_smoothing, 0, 1, high_inclusive=False
        )

    def call(self, y_true, y_pred):
        n_classes = keras.ops.shape(y_pred)[-1]
        labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        target = keras.ops.one_hot(labels, n_classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            target, y_pred, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def classifier_loss(label_smoothing=0.0):
    """The training loss: Keras' sparse cross-entropy, or `SparseSmoothedCrossentropy`."""
    if label_smoothing:
        return SparseSmoothedCrossentropy(label_smoothing)
    return "sparse_categorical_crossentropy"
