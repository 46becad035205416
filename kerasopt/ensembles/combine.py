"""The layer that averages ensemble members' outputs (Huang et al. 2017, sec. 3, "Ensembling at test time")."""

import keras
from keras import ops

from kerasopt._validation import check_choice, check_positive


@keras.saving.register_keras_serializable(package="kerasopt")
class MemberAverage(keras.layers.Layer):
    """Average a list of member outputs, as probabilities or as logits.

    Huang et al. 2017 average the softmax outputs of the last m snapshots;
    `combine="mean_probabilities"` does that, `combine="mean_logits"` averages logits instead
    (a normalized geometric mean of the members' probabilities). `member_outputs` says what
    the members emit: "probabilities" (softmax outputs) are averaged directly or, for
    mean_logits, turned into log-probabilities first (logits up to a constant per member);
    "logits" are averaged directly or, for mean_probabilities, put through a softmax first.
    The output is in the space `combine` names.

    Args:
        combine: "mean_probabilities" or "mean_logits".
        member_outputs: "probabilities" or "logits".
        epsilon: floor of the probabilities before the log, > 0.

    Example:
        >>> import numpy as np
        >>> from kerasopt.ensembles import MemberAverage
        >>> p1, p2 = np.array([[0.9, 0.1]]), np.array([[0.5, 0.5]])
        >>> np.round(np.asarray(MemberAverage()([p1, p2]), "float64"), 4).tolist()
        [[0.7, 0.3]]

    References:
        Huang et al., "Snapshot Ensembles: Train 1, get M for free", ICLR 2017, sec. 3.
    """

    COMBINE = ("mean_probabilities", "mean_logits")
    OUTPUTS = ("probabilities", "logits")

    def __init__(self, combine="mean_probabilities", member_outputs="probabilities", epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.combine = check_choice("combine", combine, self.COMBINE)
        self.member_outputs = check_choice("member_outputs", member_outputs, self.OUTPUTS)
        self.epsilon = check_positive("epsilon", epsilon)

    def call(self, inputs):
        stacked = ops.stack(list(inputs), axis=0)
        if self.combine == "mean_probabilities" and self.member_outputs == "logits":
            stacked = ops.softmax(stacked, axis=-1)
        elif self.combine == "mean_logits" and self.member_outputs == "probabilities":
            stacked = ops.log(ops.maximum(stacked, self.epsilon))
        return ops.mean(stacked, axis=0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {
            **super().get_config(),
            "combine": self.combine,
            "member_outputs": self.member_outputs,
            "epsilon": self.epsilon,
        }
