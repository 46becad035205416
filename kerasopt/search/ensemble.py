"""The best trials of a search as one model (CS231n: ensembles of models trained with
different hyperparameters)."""

import keras_tuner as kt

from kerasopt._validation import check_instance, check_int
from kerasopt.ensembles import average_models


def top_k_ensemble(tuner, k, combine="mean_probabilities", member_outputs="probabilities"):
    """The `k` best trials' models, averaged by `kerasopt.ensembles.average_models`.

    CS231n ("Neural Networks Part 3", sec. "Model ensembles"): the models of a
    hyperparameter search, trained with *different* settings, make a better ensemble than
    one model; take the best few after cross-validation. Each member is the trial's model
    with the weights of its best epoch (`tuner.load_model`, keras-tuner's checkpoint),
    named `trial_<id>`; the output is their mean (probabilities or logits, see
    `kerasopt.ensembles.MemberAverage`). Export it like a snapshot ensemble with
    `kerasopt.ensembles.export(model, path)`.

    Args:
        tuner: a `keras_tuner.Tuner` after `search`.
        k: number of members, integer in [1, completed trials].
        combine: "mean_probabilities" or "mean_logits".
        member_outputs: "probabilities" or "logits".

    Example:
        >>> import tempfile, numpy as np, keras
        >>> def build(hp):
        ...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        ...     model.compile(keras.optimizers.SGD(hp.Float("lr", 0.01, 0.1, sampling="log")),
        ...                   "sparse_categorical_crossentropy")
        ...     return model
        >>> tuner = kt.RandomSearch(build, "loss", max_trials=3, seed=0,
        ...                         directory=tempfile.mkdtemp(), project_name="doc")
        >>> x, y = np.random.default_rng(0).normal(size=(32, 4)), np.arange(32) % 3
        >>> tuner.search(x, y, epochs=1, verbose=0)
        >>> ensemble = top_k_ensemble(tuner, 2)
        >>> [layer.name for layer in ensemble.layers[1:3]] == [
        ...     f"trial_{t.trial_id}" for t in tuner.oracle.get_best_trials(2)]
        True
    """
    check_instance("tuner", tuner, kt.Tuner, "a keras_tuner.Tuner")
    completed = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    check_int("k", k, minimum=1, maximum=max(len(completed), 1))
    members = []
    for trial in tuner.oracle.get_best_trials(k):
        model = tuner.load_model(trial)
        model.name = f"trial_{trial.trial_id}"
        members.append(model)
    return average_models(members, combine, member_outputs, name=f"top_{k}_ensemble")
