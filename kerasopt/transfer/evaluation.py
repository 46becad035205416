"""The final evaluation on the test split: accuracy, loss, per-class precision/recall/F1, the
most-confused pairs, the worst images, with and without test-time augmentation.

Source: the course's evaluation practice (a test set used once, after every choice was made on
the validation set) and the definitions of precision, recall and F1 per class (van Rijsbergen,
"Information Retrieval", 1979); the most-confused pairs and the top-losses grid follow fastai's
`ClassificationInterpretation` (Howard & Gugger, 2020). Test-time augmentation:
`kerasopt.layers.TestTimeAugmentation`. No file I/O.
"""

import keras
import numpy as np

from kerasopt.layers import TestTimeAugmentation


def predict_split(model, dataset, tta=None):
    """(probabilities (n, K), labels (n,)) of `model` on a dataset of (images, labels).

    `tta`: None, "flip" (image and mirror) or "five_crop" (four corners and centre at 7/8 of
    the side; `TestTimeAugmentation`, the crops resized back by the classifier).
    """
    if tta is not None:
        _, height, width, _ = next(iter(dataset))[0].shape
        crop = None if tta == "flip" else (height * 7 // 8, width * 7 // 8)
        model = TestTimeAugmentation(model, mode=tta, crop_size=crop)
    forward = _forward(model)
    probs, labels = [], []
    for images, y in dataset:
        probs.append(keras.ops.convert_to_numpy(forward(images)))
        labels.append(keras.ops.convert_to_numpy(y))
    return np.concatenate(probs).astype("float64"), np.concatenate(labels).astype("int64")


def classification_report(probs, labels, class_names, top_pairs=5, label_smoothing=0.0):
    """Accuracy, loss and per-class figures of predicted probabilities against labels.

    Args:
        probs: (n, K) class probabilities.
        labels: (n,) true classes.
        class_names: K names.
        top_pairs: how many most-confused (true, predicted) pairs to list.
        label_smoothing: the training loss' smoothing, so that `loss` is that loss.

    Returns:
        A dict: accuracy, loss (mean cross-entropy), per_class {name: precision, recall, f1,
        support}, most_confused [[true, predicted, count], ...] (off-diagonal counts, largest
        first, zero counts left out), confusion_matrix (rows true, columns predicted).

    Example:
        >>> import numpy as np
        >>> from kerasopt.transfer.evaluation import classification_report
        >>> probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
        >>> report = classification_report(probs, np.array([0, 1, 1, 1]), ["a", "b"])
        >>> report["accuracy"], report["per_class"]["b"]["recall"], report["most_confused"]
        (0.75, 0.6667, [['b', 'a', 1]])
    """
    n_classes = len(class_names)
    predicted = probs.argmax(axis=1)
    matrix = count_pairs(labels, predicted, n_classes)
    target = np.full_like(probs, label_smoothing / n_classes)
    target[np.arange(len(labels)), labels] += 1.0 - label_smoothing
    loss = float(-(target * np.log(np.clip(probs, 1e-7, 1.0))).sum(axis=1).mean())
    per_class = {}
    for c, name in enumerate(class_names):
        tp = matrix[c, c]
        precision = tp / matrix[:, c].sum() if matrix[:, c].sum() else 0.0
        recall = tp / matrix[c].sum() if matrix[c].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "support": int(matrix[c].sum()),
        }
    off = [(int(matrix[i, j]), i, j) for i in range(n_classes) for j in range(n_classes) if i != j]
    pairs = sorted((p for p in off if p[0] > 0), key=lambda p: (-p[0], p[1], p[2]))[:top_pairs]
    return {
        "accuracy": round(float((predicted == labels).mean()), 4),
        "loss": round(loss, 4),
        "per_class": per_class,
        "most_confused": [[class_names[i], class_names[j], count] for count, i, j in pairs],
        "confusion_matrix": matrix.tolist(),
    }


def top_losses(probs, labels, dataset, k=9):
    """The `k` test images with the highest loss: [(image uint8 array, true, predicted,
    probability of the prediction)], worst first. `dataset` yields the images in the order of
    `probs` (the evaluation pipeline)."""
    losses = -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1.0))
    worst = np.argsort(-losses, kind="stable")[:k]
    wanted, images, offset = set(worst.tolist()), {}, 0
    for batch, _ in dataset:
        batch = keras.ops.convert_to_numpy(batch)
        for i in range(len(batch)):
            if offset + i in wanted:
                images[offset + i] = np.clip(batch[i], 0, 255).astype("uint8")
        offset += len(batch)
    return [
        (images[i], int(labels[i]), int(probs[i].argmax()), float(probs[i].max())) for i in worst
    ]


def confusion_matrix(model, dataset, n_classes):
    """Counts (true class, predicted class) of `model` on a dataset of (images, labels).

    Args:
        model: a classifier whose outputs are per-class scores (the argmax is the prediction).
        dataset: batches of (inputs, integer labels), e.g. `ImageData.val`.
        n_classes: the number of classes.

    Returns:
        An int64 array of shape (n_classes, n_classes): row = true class, column = predicted.

    Example:
        >>> import keras, numpy as np, tensorflow as tf
        >>> from kerasopt.transfer import confusion_matrix
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, use_bias=False,
        ...                           kernel_initializer="identity")])  # predicts argmax(x)
        >>> x = np.array([[1, 0], [0, 1], [0, 1], [1, 0], [0, 1]], "float32")  # predicted 0, 1, 1, 0, 1
        >>> y = np.array([0, 1, 0, 0, 1])
        >>> confusion_matrix(model, tf.data.Dataset.from_tensor_slices((x, y)).batch(2), 2).tolist()
        [[2, 1], [0, 2]]
    """
    probs, labels = predict_split(model, dataset)
    return count_pairs(labels, probs.argmax(axis=1), n_classes)


def count_pairs(labels, predicted, n_classes):
    """The confusion matrix of integer arrays: an int64 (n_classes, n_classes) array whose
    [i, j] counts the items of true class i predicted as j."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predicted)), 1)
    return matrix


def _forward(model):
    """`model`'s outputs on one batch of images (inference mode), compiled once for every batch
    size. On TensorFlow: a `tf.function` traced at its first batch with the batch dimension
    left free, so the last, smaller batch needs no second trace (Keras' `predict_on_batch`
    traces per batch shape, and its first call took about 1 s longer for MobileNetV2 at 224 px,
    2 cores). On JAX: the model's own predict function (`predict_on_batch`). Under a strategy
    with several replicas (MultiWorkerMirroredStrategy), and for a bare layer
    (`TestTimeAugmentation`) off TensorFlow, a direct call."""
    strategy = getattr(model, "distribute_strategy", None)
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        return lambda images: model(images, training=False)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        compiled = []

        def forward(images):
            if not compiled:
                spec = tf.TensorSpec((None, *images.shape[1:]), images.dtype)
                call = tf.function(lambda batch: model(batch, training=False))
                compiled.append(call.get_concrete_function(spec))
            return compiled[0](tf.convert_to_tensor(images))

        return forward
    if isinstance(model, keras.Model):
        return model.predict_on_batch
    return lambda images: model(images, training=False)
