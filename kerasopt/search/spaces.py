"""Search spaces for kerasopt's optimizers, wrappers, schedules and fine-tune settings.

Each function declares keras-tuner hyperparameters on `hp` and returns the object (or
values) they describe, so a hypermodel's `build(hp)` reads like ordinary Keras code. Rates
are log-uniform (CS231n, "Hyperparameter optimization": search rates on a log scale);
conditional hyperparameters (e.g. SGD's momentum) are declared in keras-tuner's
`conditional_scope`, so they exist only in the trials that use them.
"""

import keras

from kerasopt._validation import check_choice, check_int, check_pair
from kerasopt.optimizers import Averaged, DeltaBarDelta, Lookahead, RMSpropNesterov
from kerasopt.schedules import LinearDecay, OneCycle

OPTIMIZERS = ("adam", "sgd", "rmsprop_nesterov", "delta_bar_delta")
WRAPPERS = ("none", "averaged", "lookahead")
SCHEDULES = ("constant", "one_cycle", "cosine", "linear")


def _check_subset(name, values, allowed):
    if not isinstance(values, (list, tuple)) or not values:
        raise TypeError(f"Argument `{name}` must be a non-empty list. Received: {name}={values!r}")
    for value in values:
        check_choice(name, value, allowed)
    return list(values)


def learning_rate(hp, low=1e-4, high=1e-1, name="learning_rate"):
    """A log-uniform rate in [low, high] (e.g. the bounds of `lr_range_from_finder`).

    Example:
        >>> import keras_tuner as kt
        >>> hp = kt.HyperParameters()
        >>> learning_rate(hp, 1e-3, 1e-1)
        0.001
        >>> hp.get_config()["space"][0]["config"]["sampling"]
        'log'
    """
    low, high = check_pair("learning_rate", (low, high), positive=True)
    return hp.Float(name, low, high, sampling="log")


def optimizer(hp, choices=OPTIMIZERS, learning_rate_range=(1e-4, 1e-1), weight_decay_range=None):
    """An optimizer chosen among `choices` with a log-uniform learning rate.

    Hyperparameters: `optimizer` (Choice); `<optimizer>_learning_rate` (log), one per
    optimizer and active only with it, because a good rate depends on the optimizer (SGD's
    and Adam's differ by orders of magnitude, so one shared range cannot shrink around
    both); `momentum` (SGD only, in [0.5, 0.99]); and `weight_decay` (log, decoupled as
    Loshchilov & Hutter's AdamW, Keras' `weight_decay` argument) when
    `weight_decay_range` is given.

    Example:
        >>> import keras_tuner as kt
        >>> hp = kt.HyperParameters()
        >>> type(optimizer(hp, choices=["rmsprop_nesterov"])).__name__
        'RMSpropNesterov'
        >>> sorted(hp.values)
        ['optimizer', 'rmsprop_nesterov_learning_rate']
    """
    choices = _check_subset("choices", choices, OPTIMIZERS)
    kind = hp.Choice("optimizer", choices)
    with hp.conditional_scope("optimizer", [kind]):
        rate = learning_rate(hp, *learning_rate_range, name=f"{kind}_learning_rate")
    kwargs = {}
    if weight_decay_range is not None:
        low, high = check_pair("weight_decay_range", weight_decay_range, positive=True)
        kwargs["weight_decay"] = hp.Float("weight_decay", low, high, sampling="log")
    if kind == "adam":
        return keras.optimizers.Adam(rate, **kwargs)
    if kind == "sgd":
        with hp.conditional_scope("optimizer", ["sgd"]):
            momentum = hp.Float("momentum", 0.5, 0.99)
        return keras.optimizers.SGD(rate, momentum=momentum, nesterov=True, **kwargs)
    if kind == "rmsprop_nesterov":
        return RMSpropNesterov(rate, **kwargs)
    return DeltaBarDelta(rate, **kwargs)


def wrapper(hp, inner, choices=WRAPPERS):
    """`inner` as is, inside `kerasopt.optimizers.Averaged` or inside `Lookahead`.

    Hyperparameters: `wrapper` (Choice); `average_method` ("polyak" or "ema") for
    Averaged; `lookahead_sync_period` (Int 3..10) and `lookahead_alpha` (0.3..0.8) for
    Lookahead (Zhang et al. 2019 use k = 5, alpha = 0.5).

    Example:
        >>> import keras_tuner as kt
        >>> type(wrapper(kt.HyperParameters(), keras.optimizers.SGD(), ["lookahead"])).__name__
        'Lookahead'
    """
    choices = _check_subset("choices", choices, WRAPPERS)
    kind = hp.Choice("wrapper", choices)
    if kind == "averaged":
        with hp.conditional_scope("wrapper", ["averaged"]):
            method = hp.Choice("average_method", ["polyak", "ema"])
        return Averaged(inner, method=method)
    if kind == "lookahead":
        with hp.conditional_scope("wrapper", ["lookahead"]):
            sync_period = hp.Int("lookahead_sync_period", 3, 10)
            alpha = hp.Float("lookahead_alpha", 0.3, 0.8)
        return Lookahead(inner, sync_period=sync_period, slow_step_size=alpha)
    return inner


def schedule(hp, peak, total_steps, choices=SCHEDULES):
    """The learning rate `peak` held constant or shaped over `total_steps` steps.

    "one_cycle" (Smith & Topin 2019, kerasopt.schedules.OneCycle), "cosine" (Keras'
    CosineDecay to 0), "linear" (kerasopt.schedules.LinearDecay to 0) or "constant" (the
    number `peak`). Hyperparameter: `schedule` (Choice).

    Example:
        >>> import keras_tuner as kt
        >>> s = schedule(kt.HyperParameters(), 0.1, 100, choices=["linear"])
        >>> round(float(s(50)), 6)
        0.05
    """
    choices = _check_subset("choices", choices, SCHEDULES)
    check_int("total_steps", total_steps, minimum=2)
    kind = hp.Choice("schedule", choices)
    if kind == "one_cycle":
        return OneCycle(peak, total_steps)
    if kind == "cosine":
        return keras.optimizers.schedules.CosineDecay(peak, total_steps)
    if kind == "linear":
        return LinearDecay(peak, 0.0, total_steps)
    return peak


def finetune(
    hp,
    head_learning_rate=(1e-4, 1e-2),
    finetune_learning_rate=(1e-6, 1e-3),
    label_smoothing=(0.0, 0.2),
    unfreeze_fraction=(0.1, 1.0),
):
    """The settings of a two-phase fine-tune (Yosinski et al. 2014; Howard & Ruder 2018).

    Returns a dict: `head_learning_rate` and `finetune_learning_rate` (log-uniform; the
    backbone's rate in phase 2), `label_smoothing` (Szegedy et al. 2016) and
    `unfreeze_fraction` (the top fraction of the backbone's layers trained in phase 2,
    `kerasopt.transfer.unfreeze_fraction`).

    Example:
        >>> import keras_tuner as kt
        >>> sorted(finetune(kt.HyperParameters()))
        ['finetune_learning_rate', 'head_learning_rate', 'label_smoothing', 'unfreeze_fraction']
    """
    head = check_pair("head_learning_rate", head_learning_rate, positive=True)
    tune = check_pair("finetune_learning_rate", finetune_learning_rate, positive=True)
    smooth = check_pair("label_smoothing", label_smoothing)
    unfreeze = check_pair("unfreeze_fraction", unfreeze_fraction, positive=True)
    return {
        "head_learning_rate": hp.Float("head_learning_rate", *head, sampling="log"),
        "finetune_learning_rate": hp.Float("finetune_learning_rate", *tune, sampling="log"),
        "label_smoothing": hp.Float("label_smoothing", *smooth),
        "unfreeze_fraction": hp.Float("unfreeze_fraction", *unfreeze),
    }
