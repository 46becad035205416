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

    def __init__(
        self, combine="mean_probabilities", member_outputs="probabilities", epsilon=1e-12, **kwargs
    ):
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


def average_models(
    members, combine="mean_probabilities", member_outputs="probabilities", name=None
):
    """One Functional model feeding its input to every member and averaging their outputs.

    The members (Keras models with one input and one output, all of the same shapes) become
    layers of the new model, under their own (distinct) names; `MemberAverage` combines
    their outputs. `kerasopt.ensembles.load` (snapshots) and `kerasopt.search.top_k_ensemble`
    (the best trials of a search) both build their ensembles here.

    Example:
        >>> import numpy as np
        >>> members = [keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")],
        ...                              name=f"m{i}") for i in range(2)]
        >>> x = np.ones((4, 3), "float32")
        >>> ensemble = average_models(members)
        >>> bool(np.allclose(ensemble.predict(x, verbose=0),
        ...                  (members[0].predict(x, verbose=0) + members[1].predict(x, verbose=0)) / 2, atol=1e-6))
        True
    """
    check_choice("combine", combine, MemberAverage.COMBINE)
    check_choice("member_outputs", member_outputs, MemberAverage.OUTPUTS)
    members = list(members)
    if not members or not all(isinstance(m, keras.Model) for m in members):
        raise TypeError(
            f"Argument `members` must be a non-empty list of keras.Model. Received: members={members!r}"
        )
    signatures = [_signature(m) for m in members]
    for member, signature in zip(members, signatures, strict=True):
        if len(signature[0]) != 1 or len(signature[1]) != 1:
            raise ValueError(
                f"Argument `members` must hold models with one input and one output. "
                f"Received: {member.name} with inputs/outputs {signature}"
            )
        if signature != signatures[0]:
            raise ValueError(
                f"Argument `members` must hold models of the same input/output shapes. "
                f"Received: {signature} ({member.name}) vs {signatures[0]} ({members[0].name})"
            )
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ValueError(
            f"Argument `members` must hold models with distinct names. Received: names={names}"
        )
    spec = members[0].inputs[0]
    inputs = keras.Input(shape=spec.shape[1:], dtype=spec.dtype, name="inputs")
    outputs = MemberAverage(combine, member_outputs, name="member_average")(
        [m(inputs) for m in members]
    )
    return keras.Model(inputs, outputs, name=name or f"ensemble_{len(members)}")


def _signature(model):
    """Input and output shapes (batch axis dropped) of a built model."""
    if not getattr(model, "inputs", None):
        raise ValueError(
            f"Argument `members` must hold built models with known inputs. Received: {model.name}"
        )
    return (
        [tuple(t.shape[1:]) for t in model.inputs],
        [tuple(t.shape[1:]) for t in model.outputs],
    )
