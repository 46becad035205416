"""Difficulty scores for curriculum learning: one number per training example, lower = easier.

Hacohen & Weinshall 2019 (sec. 2) score an example by a reference network's confidence in
its label: "transfer scoring" with a network trained on other data, "self-taught" with the
network itself trained once without a curriculum. Weinshall, Cohen & Amir 2018 use the loss
of a pre-trained network. Bengio et al. 2009 use hand-made easiness (e.g. simpler shapes).
All three are here: the loss under a reference model, the teacher's confidence in the
label, and any user callable.
"""

import numpy as np
from keras import ops

from kerasopt._validation import check_choice, check_instance, check_int

_OUTPUTS = ("probabilities", "logits")


def _label_probabilities(model, x, y, batch_size, outputs):
    import keras

    check_instance("model", model, keras.Model, "a keras.Model")
    check_choice("outputs", outputs, _OUTPUTS)
    check_int("batch_size", batch_size, minimum=1)
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(
            f"Argument `y` must hold one integer label per example of `x`. Received: y with shape {y.shape}"
        )
    predictions = model.predict(x, batch_size=batch_size, verbose=0)
    if outputs == "logits":
        predictions = np.asarray(ops.softmax(predictions, axis=-1))
    return np.asarray(predictions, dtype="float64")[np.arange(len(y)), y.astype("int64")]


def loss_scores(model, x, y, batch_size=256, outputs="probabilities"):
    """Cross-entropy loss -log p(y | x) of each example under a reference `model`.

    Weinshall, Cohen & Amir 2018; Hacohen & Weinshall 2019 (sec. 2). Train the reference on
    other data (or on other folds: an example's score should come from a model that has not
    memorized its label, which matters most when labels are noisy).

    Args:
        model: a `keras.Model` from x to class probabilities (or logits, see `outputs`).
        x: inputs, anything `model.predict` takes.
        y: integer labels, one per example.
        batch_size: prediction batch size.
        outputs: "probabilities" or "logits", what the model emits.

    Example:
        >>> import numpy as np, keras
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Softmax()])
        >>> loss_scores(model, np.log([[0.9, 0.1], [0.5, 0.5]]), [0, 0]).round(4)
        array([0.1054, 0.6931])

    References:
        Weinshall, Cohen & Amir 2018, "Curriculum Learning by Transfer Learning: Theory and
        Experiments with Deep Networks", ICML. Hacohen & Weinshall 2019, sec. 2.
    """
    p = _label_probabilities(model, x, y, batch_size, outputs)
    return -np.log(np.maximum(p, 1e-12))


def confidence_scores(teacher, x, y, batch_size=256, outputs="probabilities"):
    """1 − p_teacher(y | x): how little the teacher believes each example's label.

    Hacohen & Weinshall 2019 (sec. 2, "transfer scoring"): the difficulty of an example is
    given by a teacher network's confidence in its correct label; more confidence = easier.
    Same arguments as `loss_scores`; the order of the two scores is the same, the values
    lie in [0, 1].

    Example:
        >>> import numpy as np, keras
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Softmax()])
        >>> confidence_scores(model, np.log([[0.9, 0.1], [0.5, 0.5]]), [0, 0]).round(4)
        array([0.1, 0.5])

    References:
        Hacohen & Weinshall 2019, "On the Power of Curriculum Learning in Training Deep
        Networks", ICML, sec. 2.
    """
    return 1.0 - _label_probabilities(teacher, x, y, batch_size, outputs)


def callable_scores(function, x, y=None):
    """`function(x, y)` (or `function(x)` when y is None) as a checked float64 score vector.

    For hand-made difficulty (Bengio et al. 2009: shape complexity, word frequency, ...).
    The result must hold one finite number per example.

    Example:
        >>> import numpy as np
        >>> callable_scores(lambda x: x.sum(axis=1), np.array([[1, 2], [0, 1]]))
        array([3., 1.])

    References:
        Bengio, Louradour, Collobert & Weston 2009, "Curriculum Learning", ICML.
    """
    if not callable(function):
        raise TypeError(f"Argument `function` must be callable. Received: function={function!r}")
    scores = np.asarray(function(x) if y is None else function(x, y), dtype="float64")
    if scores.shape != (len(x),) or not np.all(np.isfinite(scores)):
        raise ValueError(
            f"Argument `function` must return one finite score per example ({len(x)}). "
            f"Received: function={function!r} returning shape {scores.shape}"
        )
    return scores
