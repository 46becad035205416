"""Linear decay to a floor, the course's rule for SGD (Goodfellow et al., Deep Learning, sec. 8.3.1)."""

import keras
from keras import ops

from kerasopt._validation import check_int, check_range
from kerasopt.schedules._math import as_float, linear_anneal


@keras.saving.register_keras_serializable(package="kerasopt")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Decay linearly from `initial_learning_rate` to `final_learning_rate`, then stay there.

    eps_k = (1 - a) eps_0 + a eps_tau with a = min(k / tau, 1) (Goodfellow et al., Deep
    Learning, sec. 8.3.1, eq. 8.14): the rate falls linearly until step `tau = decay_steps`
    and is constant afterwards, which satisfies the SGD convergence conditions in practice.

    Args:
        initial_learning_rate: eps_0, a number >= 0.
        final_learning_rate: eps_tau, a number >= 0 (the course suggests about eps_0 / 100).
        decay_steps: tau, an integer >= 1.

    Example:
        >>> from kerasopt.schedules import LinearDecay
        >>> lr = LinearDecay(initial_learning_rate=1.0, final_learning_rate=0.1, decay_steps=10)
        >>> [round(float(lr(step)), 4) for step in (0, 5, 10, 20)]
        [1.0, 0.55, 0.1, 0.1]

    References:
        Goodfellow, Bengio & Courville, Deep Learning, 2016, sec. 8.3.1.
    """

    def __init__(self, initial_learning_rate, final_learning_rate, decay_steps):
        self.initial_learning_rate = check_range(
            "initial_learning_rate", initial_learning_rate, low=0
        )
        self.final_learning_rate = check_range("final_learning_rate", final_learning_rate, low=0)
        self.decay_steps = check_int("decay_steps", decay_steps, minimum=1)

    def __call__(self, step):
        fraction = as_float(step) / float(self.decay_steps)
        return linear_anneal(
            ops.convert_to_tensor(self.initial_learning_rate, "float32"),
            self.final_learning_rate,
            fraction,
        )

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "final_learning_rate": self.final_learning_rate,
            "decay_steps": self.decay_steps,
        }
