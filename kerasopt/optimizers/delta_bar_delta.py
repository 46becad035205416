"""Delta-bar-delta: a per-parameter learning rate adapted from gradient sign agreement."""

import keras
from keras import ops

from kerasopt._validation import check_positive, check_range


@keras.saving.register_keras_serializable(package="kerasopt")
class DeltaBarDelta(keras.optimizers.Optimizer):
    """Delta-bar-delta (Jacobs, "Increased rates of convergence through learning rate
    adaptation", Neural Networks 1(4), 1988; Goodfellow et al., Deep Learning, sec. 8.5).

    Every parameter has its own rate eps (starting at `learning_rate`) and a smoothed
    gradient dbar (starting at 0). With the gradient g of the current step:

    1. eps <- eps + kappa        where g * dbar > 0 (the sign held: speed up linearly),
       eps <- eps * (1 - phi)    where g * dbar < 0 (the sign flipped: slow down),
       eps unchanged             otherwise;
    2. w <- w - eps * g;
    3. dbar <- (1 - theta) * g + theta * dbar.

    The rule was designed for full-batch training: with minibatch noise the gradient
    signs flip at random and the rates shrink geometrically. Use it with
    `batch_size=len(x)` (or large batches).

    The rates are stored as gains relative to the learning rate (eps = learning_rate *
    gain, slot `gain`, initially 1; the increment is kappa / learning_rate). With a
    constant `learning_rate` this is exactly the rule above; a schedule (or a callback
    that changes `learning_rate`) scales every rate by the same factor.

    Args:
        learning_rate: float > 0, schedule or callable; initial per-parameter rate.
        kappa: float >= 0, additive rate increase.
        phi: float in [0, 1), multiplicative rate decrease.
        theta: float in [0, 1), smoothing of the gradient average dbar.
        **kwargs: base optimizer arguments (`clipnorm`, `weight_decay`, ...).

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.optimizers import DeltaBarDelta
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=DeltaBarDelta(learning_rate=0.01), loss="mse")
        >>> x = np.random.default_rng(0).normal(size=(32, 2)).astype("float32")
        >>> first = model.evaluate(x, x.sum(1), verbose=0)
        >>> _ = model.fit(x, x.sum(1), batch_size=32, epochs=20, verbose=0)
        >>> model.evaluate(x, x.sum(1), verbose=0) < first
        True

    References:
        Jacobs, "Increased rates of convergence through learning rate adaptation", Neural
        Networks 1(4), 1988; Goodfellow et al., Deep Learning, sec. 8.5.
    """

    def __init__(
        self, learning_rate=0.01, kappa=1e-4, phi=0.1, theta=0.7, name="delta_bar_delta", **kwargs
    ):
        if isinstance(learning_rate, (int, float)):
            learning_rate = float(check_positive("learning_rate", learning_rate))
        check_range("kappa", kappa, low=0)
        check_range("phi", phi, 0, 1, high_inclusive=False)
        check_range("theta", theta, 0, 1, high_inclusive=False)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.kappa, self.phi, self.theta = kappa, phi, theta

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._gains = self.add_optimizer_variables(var_list, "gain", initializer="ones")
        self._dbars = self.add_optimizer_variables(var_list, "dbar")

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        g = ops.cast(gradient, dtype)
        index = self._get_variable_index(variable)
        gain_slot, dbar_slot = self._gains[index], self._dbars[index]
        # Read the slots as tensors: a variable handed to `ops.where` is not a JAX array.
        gain, dbar = ops.convert_to_tensor(gain_slot), ops.convert_to_tensor(dbar_slot)
        agreement = ops.multiply(g, dbar)
        new_gain = ops.where(
            agreement > 0,
            ops.add(gain, ops.divide(ops.cast(self.kappa, dtype), lr)),
            ops.where(agreement < 0, ops.multiply(gain, ops.cast(1.0 - self.phi, dtype)), gain),
        )
        self.assign(gain_slot, new_gain)
        self.assign_sub(variable, ops.multiply(ops.multiply(lr, new_gain), g))
        theta = ops.cast(self.theta, dtype)
        self.assign(dbar_slot, ops.add(ops.multiply(1.0 - theta, g), ops.multiply(theta, dbar)))

    def get_config(self):
        config = super().get_config()
        config.update({"kappa": self.kappa, "phi": self.phi, "theta": self.theta})
        return config
