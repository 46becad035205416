"""Lookahead: slow weights pulled toward the fast weights of any optimizer."""

import contextlib

import keras
import numpy as np
from keras import ops

from kerasopt._validation import check_int, check_range
from kerasopt.optimizers._wrapper import OptimizerWrapper


@keras.saving.register_keras_serializable(package="kerasopt")
class Lookahead(OptimizerWrapper):
    """Lookahead (Zhang, Lucas, Hinton & Ba, "Lookahead Optimizer: k steps forward,
    1 step back", NeurIPS 2019).

    The wrapped `optimizer` updates the model variables (the fast weights) every step.
    Slow weights (slot `slow`) start at the model's weights when the optimizer is
    built (before the first step). After every `sync_period`-th step (t = k, 2k, ...):

        slow <- slow + slow_step_size * (fast - slow);   fast <- slow.

    The inner optimizer's slots (e.g. Adam's moments) are kept across syncs, as in the
    paper's experiments.

    Args:
        optimizer: the `keras.optimizers.Optimizer` taking the fast steps, or an identifier
            `keras.optimizers.get` accepts (`"adam"`, a config dict), as in `model.compile`.
        sync_period: int >= 1, k above.
        slow_step_size: float in (0, 1], alpha above.

    Example:
        With `sync_period=2`, the weights after two fast SGD steps are pulled halfway back to the slow weights:

        >>> import keras
        >>> from kerasopt.optimizers import Lookahead
        >>> w = keras.Variable([1.0])
        >>> opt = Lookahead(keras.optimizers.SGD(0.1), sync_period=2, slow_step_size=0.5)
        >>> for _ in range(2):
        ...     opt.apply([[1.0]], [w])  # constant gradient 1: fast weights 0.9, 0.8
        >>> round(float(w.numpy()[0]), 4)  # slow 1.0 + 0.5 * (0.8 - 1.0)
        0.9

    References:
        Zhang, Lucas, Hinton & Ba, "Lookahead Optimizer: k steps forward, 1 step back",
        NeurIPS 2019.
    """

    def __init__(self, optimizer, sync_period=5, slow_step_size=0.5, name=None):
        check_int("sync_period", sync_period, minimum=1)
        check_range("slow_step_size", slow_step_size, 0, 1, low_inclusive=False)
        super().__init__(optimizer, name=name)
        self.sync_period, self.slow_step_size = sync_period, slow_step_size

    def _build_wrapper(self, var_list):
        self._slow = [
            self.add_variable_from_reference(v, "slow", initializer=_ValueOf(v)) for v in var_list
        ]

    def _after_step(self):
        sync = ops.equal(ops.mod(self.iterations, self.sync_period), 0)
        factors = {}

        def blend(variable, index):
            # Branch-free: with f = 1 on synchronisation steps and 0 otherwise,
            # slow <- slow + f * alpha * (fast - slow) and fast <- fast + f * (slow - fast);
            # f = 0 leaves both exactly as they were. One pass, fused with the update.
            slow = self._slow[index]
            if slow.dtype not in factors:
                factors[slow.dtype] = ops.cast(sync, slow.dtype)
            factor = factors[slow.dtype]
            pull = ops.multiply(factor, ops.cast(self.slow_step_size, slow.dtype))
            new_slow = ops.add(slow, ops.multiply(pull, ops.subtract(variable, slow)))
            new_fast = ops.add(variable, ops.multiply(factor, ops.subtract(new_slow, variable)))
            return [(slow, new_slow), (variable, new_fast)]

        self._update_each(blend)

    def get_config(self):
        config = super().get_config()
        config.update({"sync_period": self.sync_period, "slow_step_size": self.slow_step_size})
        return config


class _ValueOf:
    """Initializer: the value `variable` has when the slow weights are created.

    Read eagerly as a NumPy array (on TensorFlow under `tf.init_scope`): without a
    distribution strategy Keras builds the optimizer while tracing the first train step,
    and only an initial value that does not depend on the traced graph can be lifted out
    of an XLA function. (A copy made at step 0 inside the step instead costs a conditional
    on every step.)
    """

    def __init__(self, variable):
        self.variable = variable

    def __call__(self, shape, dtype=None):
        scope = contextlib.nullcontext()
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            scope = tf.init_scope()
        with scope:
            value = ops.convert_to_numpy(self.variable)
        return np.asarray(value, dtype=dtype or self.variable.dtype)
