"""Iterate averaging around any optimizer: Polyak, exponential moving average, SWA."""

import keras
from keras import ops

from kerasopt._validation import check_bool, check_choice, check_int, check_range
from kerasopt.optimizers._wrapper import OptimizerWrapper


@keras.saving.register_keras_serializable(package="kerasopt")
class Averaged(OptimizerWrapper):
    """Keeps an average of the iterates of any Keras optimizer in optimizer variables.

    Sources: Polyak & Juditsky, "Acceleration of stochastic approximation by averaging",
    SIAM J. Control Optim. 30(4), 1992 (arithmetic mean of the iterates); Izmailov et
    al., "Averaging weights leads to wider optima and better generalization" (SWA), UAI
    2018 (mean of snapshots taken every few steps, BatchNorm statistics recomputed
    afterwards); Goodfellow et al., Deep Learning, sec. 8.7.3 (Polyak averaging and its
    exponentially decaying variant for non-convex problems).

    The wrapped `optimizer` trains the model as usual. After its step number t
    (t = 1, 2, ...; `iterations` after the step) the new iterate w_t is *recorded* when
    t > `start_step` and (t - `start_step`) is a multiple of `every`; with n the number
    of recorded iterates so far, the average a becomes

    - `"polyak"` and `"swa"`: a <- a + (w_t - a) / n, the arithmetic mean of the
      recorded iterates (the two differ only in their usual settings: polyak averages
      every step, `every=1`; swa takes a snapshot every `every` steps, e.g. once per
      epoch or learning-rate cycle);
    - `"ema"`: a <- w_t for the first recorded iterate, then a <- d_t * a +
      (1 - d_t) * w_t, with d_t = `decay`, or with `dynamic_decay=True` the warm-up of
      tensorflow-addons' `MovingAverage`: d_t = min(decay, (1 + n) / (10 + n)),
      n = t - 1 - start_step (the optimizer's step count before step t, less
      `start_step`), so early iterates are not swamped by the first one.

    The averages are optimizer variables (slot `average`), so `model.save` stores them
    and `keras.models.load_model` restores them. At the end of `model.fit`, Keras calls
    `finalize_variable_values`, which writes the averages into the model when
    `finalize=True` (the default, as `use_ema` does); with `finalize=False` the model
    keeps the raw iterate and `assign_average_to` does it on demand. To evaluate or
    checkpoint on the averages while training continues on the raw weights, use
    `kerasopt.callbacks.SwapAveragedWeights`; after an average is written into a model
    with BatchNormalization, call `kerasopt.optimizers.recompute_batchnorm`.

    Args:
        optimizer: the `keras.optimizers.Optimizer` that takes the steps, or an identifier
            `keras.optimizers.get` accepts (`"adam"`, a config dict), as in `model.compile`.
        method: `"polyak"`, `"ema"` or `"swa"`.
        start_step: int >= 0; iterates of steps 1..start_step are not recorded.
        decay: float in [0, 1), the EMA decay (used by `"ema"` only).
        dynamic_decay: bool; `"ema"` only: cap the decay at (1 + n) / (10 + n) as
            tensorflow-addons' `MovingAverage(dynamic_decay=True)` does.
        every: int >= 1; record every `every`-th iterate after `start_step`.
        finalize: bool; whether `finalize_variable_values` (called by `fit` at the end)
            writes the averages into the model.

    Example:
        Polyak averaging of plain SGD on f(w) = w^2 / 2 from w = 1 (each step multiplies w by 0.5):

        >>> import keras, numpy as np
        >>> from kerasopt.optimizers import Averaged
        >>> w = keras.Variable([1.0])
        >>> opt = Averaged(keras.optimizers.SGD(0.5), method="polyak", finalize=False)
        >>> for _ in range(3):
        ...     opt.apply([w.numpy()], [w])  # the gradient of w^2 / 2 is w
        >>> float(w.numpy()[0]), float(opt.average_count)
        (0.125, 3.0)
        >>> _ = opt.assign_average_to([w])
        >>> round(float(w.numpy()[0]), 6)  # (0.5 + 0.25 + 0.125) / 3
        0.291667

        The inner optimizer may be named as in `model.compile`; `dynamic_decay` warms the
        EMA up (decay 1/10, 2/11, 3/12, ... until it reaches `decay`):

        >>> opt = Averaged("adam", method="ema", decay=0.99, dynamic_decay=True)
        >>> type(opt.inner_optimizer).__name__
        'Adam'

    References:
        Polyak & Juditsky, "Acceleration of stochastic approximation by averaging", SIAM J.
        Control Optim. 30(4), 1992; Izmailov et al., "Averaging weights leads to wider optima
        and better generalization", UAI 2018; Goodfellow et al., Deep Learning, sec. 8.7.3.
    """

    def __init__(
        self,
        optimizer,
        method="polyak",
        start_step=0,
        decay=0.999,
        every=1,
        finalize=True,
        dynamic_decay=False,
        name=None,
    ):
        check_choice("method", method, ("polyak", "ema", "swa"))
        check_int("start_step", start_step, minimum=0)
        check_range("decay", decay, 0, 1, high_inclusive=False)
        check_int("every", every, minimum=1)
        check_bool("finalize", finalize)
        check_bool("dynamic_decay", dynamic_decay)
        if dynamic_decay and method != "ema":
            raise ValueError(
                f"Argument `dynamic_decay` must be False unless method='ema'. Received: "
                f"dynamic_decay={dynamic_decay!r} with method={method!r}"
            )
        super().__init__(optimizer, name=name)
        self.method, self.start_step, self.decay = method, start_step, decay
        self.every, self.finalize, self.dynamic_decay = every, finalize, dynamic_decay

    def _build_wrapper(self, var_list):
        self._averages = [self.add_variable_from_reference(v, "average") for v in var_list]

    @property
    def average_count(self):
        """Number of iterates recorded so far (an integer tensor)."""
        steps_after_start = ops.maximum(ops.subtract(self.iterations, self.start_step), 0)
        return ops.floor_divide(steps_after_start, self.every)

    @property
    def averaged_variables(self):
        """The model variables whose iterates are averaged (empty before `build`)."""
        return list(self._trainable_variables)

    def _after_step(self):
        offset = ops.subtract(self.iterations, self.start_step)
        record = ops.logical_and(offset > 0, ops.equal(ops.mod(offset, self.every), 0))
        count = self.average_count

        def update(variable, index):
            average = self._averages[index]
            dtype = average.dtype
            if self.method == "ema":
                decay = ops.cast(self.decay, dtype)
                if self.dynamic_decay:
                    n = ops.cast(ops.maximum(ops.subtract(offset, 1), 0), dtype)
                    decay = ops.minimum(decay, ops.divide(ops.add(n, 1.0), ops.add(n, 10.0)))
                weight = ops.where(count <= 1, ops.cast(1.0, dtype), ops.subtract(1.0, decay))
            else:
                weight = ops.divide(ops.cast(1.0, dtype), ops.cast(ops.maximum(count, 1), dtype))
            # Branch-free (weight 0 leaves the average exactly as it was): a conditional
            # per variable costs more under XLA on CPU than this fused elementwise update.
            weight = ops.where(record, weight, ops.cast(0.0, dtype))
            return [
                (average, ops.add(average, ops.multiply(weight, ops.subtract(variable, average))))
            ]

        self._update_each(update)

    def assign_average_to(self, var_list=None):
        """Writes the averages into `var_list` (default: every averaged variable).

        Does nothing (and returns False) while no iterate has been recorded yet.
        """
        if not self.built or int(ops.convert_to_numpy(self.average_count)) == 0:
            return False
        for variable in self.averaged_variables if var_list is None else var_list:
            # A copy: on JAX an assigned array is shared, not copied, and the train step
            # donates the model's and the optimizer's buffers separately.
            average = self._averages[self._get_variable_index(variable)]
            variable.assign(ops.copy(average.value))
        return True

    def finalize_variable_values(self, var_list):
        super().finalize_variable_values(var_list)
        if self.finalize:
            self.assign_average_to(var_list)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "method": self.method,
                "start_step": self.start_step,
                "decay": self.decay,
                "every": self.every,
                "finalize": self.finalize,
                "dynamic_decay": self.dynamic_decay,
            }
        )
        return config


def averaged_optimizers(optimizer):
    """The outermost `Averaged` optimizers inside `optimizer` (through LossScaleOptimizer,
    kerasopt wrappers and MultiOptimizer)."""
    if isinstance(optimizer, Averaged):
        return [optimizer]
    found = []
    inner = getattr(optimizer, "inner_optimizer", None)
    for child in ([inner] if inner is not None else []) + list(
        getattr(optimizer, "optimizers", [])
    ):
        found.extend(averaged_optimizers(child))
    return found
