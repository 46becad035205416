"""Callbacks that behave per trial inside a keras-tuner search."""


class PerTrialCallbacks:
    """Mixin for a keras-tuner `Tuner`: each trial's copy of a callback is told its trial.

    keras-tuner deep-copies the callbacks given to `search` for every execution of every
    trial and then configures the copies (it points a `TensorBoard` callback at
    `log_dir/<trial_id>/execution<k>`). This mixin extends that step: every copied callback
    with a `configure_for_trial(trial_id, execution)` method gets it called. In kerasopt:

    - `kerasopt.callbacks.SnapshotEnsemble` writes to the trial's own folder (its
      `{trial_id}` / `{execution}` placeholders, or `directory/<trial_id>/execution<k>`);
    - `kerasopt.callbacks.SwapAveragedWeights` also swaps the averages in at epoch ends, so
      the checkpoint of the best epoch holds the averaged weights the tuner scored.

    Put it first: `class MyTuner(PerTrialCallbacks, keras_tuner.RandomSearch): pass`.
    (`kerasopt.search.CoarseToFineSearch` already has it.)

    Example:
        >>> import keras_tuner as kt
        >>> class Random(PerTrialCallbacks, kt.RandomSearch):
        ...     pass
        >>> Random.__mro__[1].__name__
        'PerTrialCallbacks'
    """

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        super()._configure_tensorboard_dir(callbacks, trial, execution)
        for callback in callbacks:
            hook = getattr(callback, "configure_for_trial", None)
            if callable(hook):
                hook(trial.trial_id, execution)
