"""The knowledge-distillation loss of Hinton, Vinyals & Dean 2015, written once in `keras.ops`.

Every piece of kerasopt that softens outputs with a temperature or computes the distillation
objective (the `Distiller`, the distillation recipe, the tests) calls these functions.
"""

from keras import ops

from kerasopt._validation import check_choice, check_positive, check_range

OUTPUTS = ("probabilities", "logits")
_EPSILON = 1e-7


def tempered_log_probabilities(outputs, temperature=1.0, kind="probabilities"):
    """log softmax(z / T), where z are logits, or z = log(p) when the outputs are probabilities.

    Hinton et al. 2015 (sec. 2) soften a softmax by dividing its logits by a temperature T.
    A model that emits probabilities p (our fine-tuned models and snapshot ensembles do) has
    logits log(p) up to a constant per example, which the softmax ignores, so its tempered
    distribution is softmax(log(p) / T); p is floored at 1e-7 before the log.

    Args:
        outputs: (batch, classes) probabilities or logits.
        temperature: T > 0; T = 1 leaves the distribution as it is.
        kind: "probabilities" or "logits", what `outputs` holds.

    Example:
        >>> import numpy as np
        >>> p = np.array([[0.8, 0.2]], dtype="float32")
        >>> np.exp(np.asarray(tempered_log_probabilities(p, 2.0))).round(4)  # sqrt(0.8), sqrt(0.2) renormalized
        array([[0.6667, 0.3333]], dtype=float32)

    References:
        Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network", sec. 2.
    """
    check_positive("temperature", temperature)
    check_choice("kind", kind, OUTPUTS)
    outputs = ops.convert_to_tensor(outputs)
    logits = ops.log(ops.maximum(outputs, _EPSILON)) if kind == "probabilities" else outputs
    return ops.log_softmax(logits / temperature, axis=-1)


def _mean(values, sample_weight):
    if sample_weight is None:
        return ops.mean(values)
    weight = ops.cast(ops.reshape(sample_weight, ops.shape(values)), values.dtype)
    return ops.sum(values * weight) / ops.maximum(ops.sum(weight), _EPSILON)


def distillation_terms(
    labels,
    student_outputs,
    teacher_outputs,
    temperature,
    student_kind="probabilities",
    teacher_kind="probabilities",
    sample_weight=None,
):
    """`(cross_entropy, scaled_kl)`: the two terms of the distillation loss, batch means.

    cross_entropy = mean_i -log q_i[y_i], the student's ordinary loss at T = 1 on the labels
    (integer class ids, or one-hot / soft rows of the outputs' shape);
    scaled_kl = T² · mean_i KL(p_i^T ‖ q_i^T), p^T and q^T the teacher's and the student's
    distributions at temperature T (`tempered_log_probabilities`). The T² keeps the soft
    term's gradients the same size as T changes (Hinton et al. 2015, end of sec. 2). Only the
    student's outputs carry gradients; the teacher's are held constant.
    `sample_weight` (batch,) weights both means.

    Example:
        >>> import numpy as np
        >>> p = np.array([[0.5, 0.5]], dtype="float32")
        >>> ce, kl = distillation_terms([1], p, p, temperature=2.0)
        >>> round(float(ce), 4), round(float(kl), 4)  # -log 0.5, and no disagreement
        (0.6931, 0.0)

    References:
        Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network", sec. 2.
    """
    log_q = tempered_log_probabilities(student_outputs, 1.0, student_kind)
    labels = ops.convert_to_tensor(labels)
    if len(labels.shape) == len(log_q.shape) and labels.shape[-1] == log_q.shape[-1]:
        target = ops.cast(labels, log_q.dtype)
    else:
        target = ops.one_hot(
            ops.cast(ops.reshape(labels, (-1,)), "int32"), log_q.shape[-1], dtype=log_q.dtype
        )
    cross_entropy = _mean(-ops.sum(target * log_q, axis=-1), sample_weight)
    log_p_t = ops.stop_gradient(
        tempered_log_probabilities(teacher_outputs, temperature, teacher_kind)
    )
    log_q_t = tempered_log_probabilities(student_outputs, temperature, student_kind)
    kl = ops.sum(ops.exp(log_p_t) * (log_p_t - log_q_t), axis=-1)
    return cross_entropy, temperature**2 * _mean(kl, sample_weight)


def distillation_loss(
    labels,
    student_outputs,
    teacher_outputs,
    temperature=4.0,
    alpha=0.1,
    student_kind="probabilities",
    teacher_kind="probabilities",
    sample_weight=None,
):
    """alpha · CE(labels, student) + (1 − alpha) · T² · KL(teacher_T ‖ student_T), batch mean.

    Hinton et al. 2015 (sec. 2): a weighted average of the cross entropy with the hard labels
    and the cross entropy with the teacher's soft targets at temperature T, the soft term
    multiplied by T². KL differs from that cross entropy by the teacher's entropy, a constant
    for the student, so both have the same gradients; KL is 0 when the student matches.

    Args:
        labels: integer class ids (batch,) or one-hot rows (batch, classes).
        student_outputs: (batch, classes) outputs of the student.
        teacher_outputs: (batch, classes) outputs of the teacher.
        temperature: T > 0.
        alpha: weight of the hard-label term, in [0, 1].
        student_kind: "probabilities" or "logits", what the student emits.
        teacher_kind: "probabilities" or "logits", what the teacher emits.
        sample_weight: optional per-example weights.

    Example:
        >>> import numpy as np
        >>> q = np.array([[0.7, 0.3]], dtype="float32")
        >>> float(distillation_loss([0], q, q, temperature=3.0, alpha=0.5))  # KL = 0: half of -log 0.7
        0.17833...

    References:
        Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network", sec. 2.
    """
    check_positive("temperature", temperature)
    check_range("alpha", alpha, 0.0, 1.0)
    check_choice("student_kind", student_kind, OUTPUTS)
    check_choice("teacher_kind", teacher_kind, OUTPUTS)
    cross_entropy, scaled_kl = distillation_terms(
        labels,
        student_outputs,
        teacher_outputs,
        temperature,
        student_kind,
        teacher_kind,
        sample_weight,
    )
    return alpha * cross_entropy + (1.0 - alpha) * scaled_kl
