"""Step decay: multiply the rate by a constant factor every fixed number of steps."""

import keras
from keras import ops

from kerasopt._validation import check_int, check_range
from kerasopt.schedules._math import as_float


@keras.saving.register_keras_serializable(package="kerasopt")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`initial_learning_rate * drop ** floor(step / steps_per_drop)`.

    The piecewise-constant "divide by 10 every N epochs" schedule of Krizhevsky et al. 2012
    and He et al. 2016 (ResNet), written per step: a staircase special case of exponential
    decay (Goodfellow et al., Deep Learning, sec. 8.3.1 on decaying the learning rate).

    Args:
        initial_learning_rate: rate for steps [0, steps_per_drop), a number >= 0.
        drop: the factor applied at each drop, in (0, 1].
        steps_per_drop: steps between drops, an integer >= 1.

    Example:
        >>> from kerasopt.schedules import StepDecay
        >>> lr = StepDecay(initial_learning_rate=0.1, drop=0.5, steps_per_drop=10)
        >>> [round(float(lr(step)), 4) for step in (0, 9, 10, 25)]
        [0.1, 0.1, 0.05, 0.025]

    References:
        Krizhevsky et al., NeurIPS 2012; He et al., "Deep Residual Learning for Image
        Recognition", CVPR 2016.
    """

    def __init__(self, initial_learning_rate, drop, steps_per_drop):
        self.initial_learning_rate = check_range(
            "initial_learning_rate", initial_learning_rate, low=0
        )
        self.drop = check_range("drop", drop, low=0, high=1, low_inclusive=False)
        self.steps_per_drop = check_int("steps_per_drop", steps_per_drop, minimum=1)

    def __call__(self, step):
        drops = ops.floor(as_float(step) / float(self.steps_per_drop))
        return self.initial_learning_rate * ops.power(
            ops.convert_to_tensor(self.drop, "float32"), drops
        )

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "drop": self.drop,
            "steps_per_drop": self.steps_per_drop,
        }
