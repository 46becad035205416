"""Evaluate and checkpoint on the averaged weights of a `kerasopt.optimizers.Averaged`."""

import keras
import numpy as np

from kerasopt._validation import check_bool
from kerasopt.optimizers.averaging import averaged_optimizers


@keras.saving.register_keras_serializable(package="kerasopt")
class SwapAveragedWeights(keras.callbacks.Callback):
    """Puts the averaged weights of `kerasopt.optimizers.Averaged` into the model for
    evaluation (and optionally checkpointing), while training continues on the raw ones.

    Source: Polyak & Juditsky (1992) and Izmailov et al. (2018) evaluate the averaged
    iterate, not the last one; the mechanics follow Keras' `SwapEMAWeights`, except that
    the raw weights are kept as exact copies (not swapped arithmetically), so they are
    restored bit for bit.

    - `on_test_begin` / `on_test_end`: validation inside `fit` (and `evaluate` with this
      callback) runs on the averages; the raw weights come back afterwards.
    - `swap_on_epoch=True`: the averages are also in the model from `on_epoch_end` until
      the next `on_epoch_begin`, so a `keras.callbacks.ModelCheckpoint` placed *after*
      this callback saves the averaged weights. At the end of training the model keeps
      the averages when the optimizer's `finalize=True` (Keras' finalization step has
      already written them) and gets the raw weights back otherwise.

    Does nothing while no iterate has been recorded (e.g. before `start_step`).

    Every backend: the raw weights are kept as NumPy copies and the averages are written as
    copies (Keras' `SwapEMAWeights` takes the same path on every backend but TensorFlow). On
    JAX, `fit` has synced the training state into the model before validation and at the
    end of each epoch, which is when this callback swaps.

    In a hyperparameter search the tuner scores the validation metrics, i.e. the averaged
    weights, and checkpoints the model at the end of its best epoch. The tuners of
    `kerasopt.search` call `configure_for_trial`, which turns `swap_on_epoch` on for the
    trial's copy, so the checkpoint holds the same averaged weights the tuner scored and
    `tuner.get_best_models()` returns the models whose scores it reports.

    Example:
        >>> cb = SwapAveragedWeights()
        >>> cb.configure_for_trial("0")
        >>> cb.swap_on_epoch
        True

    Args:
        swap_on_epoch: bool.

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.callbacks import SwapAveragedWeights
        >>> from kerasopt.optimizers import Averaged
        >>> x, y = np.ones((8, 1), "float32"), np.ones((8, 1), "float32")
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
        >>> model.compile(optimizer=Averaged(keras.optimizers.SGD(0.1)), loss="mse")
        >>> history = model.fit(x, y, batch_size=8, epochs=3, validation_data=(x, y), verbose=0,
        ...                     callbacks=[SwapAveragedWeights()])
        >>> len(history.history["val_loss"])  # each validation ran on the running average
        3

    References:
        Polyak & Juditsky, "Acceleration of stochastic approximation by averaging", SIAM J.
        Control Optim. 30(4), 1992; Izmailov et al., "Averaging weights leads to wider optima
        and better generalization", UAI 2018.
    """

    def __init__(self, swap_on_epoch=False):
        check_bool("swap_on_epoch", swap_on_epoch)
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._raw = None
        self._swapped_for_test = False

    def configure_for_trial(self, trial_id, execution=0):
        """In a search: checkpoint what the tuner scores (see the class docstring)."""
        self.swap_on_epoch = True

    def _optimizers(self):
        optimizers = averaged_optimizers(self.model.optimizer)
        if not optimizers:
            raise ValueError(
                "SwapAveragedWeights needs a model compiled with a "
                "kerasopt.optimizers.Averaged optimizer. Received: "
                f"optimizer={self.model.optimizer!r}"
            )
        return optimizers

    def _swap_in(self):
        if self._raw is not None:
            return
        raw = []
        for optimizer in self._optimizers():
            copies = [(v, np.array(v.numpy(), copy=True)) for v in optimizer.averaged_variables]
            if optimizer.assign_average_to():
                raw.extend(copies)
        self._raw = raw

    def _restore(self):
        if self._raw is None:
            return
        for variable, value in self._raw:
            variable.assign(value)
        self._raw = None

    def on_test_begin(self, logs=None):
        self._swapped_for_test = self._raw is None
        self._swap_in()

    def on_test_end(self, logs=None):
        if self._swapped_for_test:
            self._restore()

    def on_epoch_begin(self, epoch, logs=None):
        self._restore()

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch:
            self._swap_in()

    def on_train_end(self, logs=None):
        if self._raw is not None and all(o.finalize for o in self._optimizers()):
            self._raw = None  # fit() has already written the averages for good.
        self._restore()

    def get_config(self):
        return {"swap_on_epoch": self.swap_on_epoch}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
