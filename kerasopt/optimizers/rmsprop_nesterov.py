"""RMSProp with Nesterov momentum (Goodfellow et al., Deep Learning, Algorithm 8.6)."""

import keras
from keras import ops

from kerasopt._validation import check_positive, check_range


@keras.saving.register_keras_serializable(package="kerasopt")
class RMSpropNesterov(keras.optimizers.Optimizer):
    """RMSProp with Nesterov momentum: Goodfellow et al., Deep Learning (2016),
    sec. 8.5.3, Algorithm 8.6.

    The algorithm keeps the parameters theta, a velocity v and a squared-gradient
    average r (both starting at 0). Each step:

        theta~ = theta + alpha * v                     (interim point)
        g      = gradient of the loss at theta~
        r      <- rho * r + (1 - rho) * g^2
        v      <- alpha * v - lr * g / (sqrt(r) + epsilon)
        theta  <- theta + v

    (alpha is `momentum`.) Keras evaluates the gradient at the stored variable, so this
    optimizer stores the look-ahead point phi_t = theta_t + alpha * v_t instead of theta_t
    (phi_0 = theta_0 because v_0 = 0). The gradient Keras hands over is then exactly the
    algorithm's g, and the stored variable moves by

        phi <- phi + (1 + alpha) * v_new - alpha * v_old,

    which is phi_{t+1} = theta_{t+1} + alpha * v_{t+1}. The algorithm's own iterate is
    recovered as theta_t = phi_t - alpha * v_t (slot `velocity` holds v_t); the two
    differ by alpha * v_t, which vanishes as the velocity dies out at convergence.

    Args:
        learning_rate: float > 0, schedule or callable.
        rho: float in [0, 1), decay of the squared-gradient average.
        momentum: float in [0, 1), alpha above.
        epsilon: float > 0 added to sqrt(r).
        **kwargs: base optimizer arguments (`clipnorm`, `weight_decay`, ...).

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.optimizers import RMSpropNesterov
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=RMSpropNesterov(learning_rate=0.01), loss="mse")
        >>> x = np.random.default_rng(0).normal(size=(32, 2)).astype("float32")
        >>> first = model.evaluate(x, x.sum(1), verbose=0)
        >>> _ = model.fit(x, x.sum(1), batch_size=32, epochs=20, verbose=0)
        >>> model.evaluate(x, x.sum(1), verbose=0) < first
        True

    References:
        Goodfellow, Bengio & Courville, Deep Learning, 2016, Algorithm 8.6.
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.9,
        epsilon=1e-7,
        name="rmsprop_nesterov",
        **kwargs,
    ):
        if isinstance(learning_rate, (int, float)):
            learning_rate = float(check_positive("learning_rate", learning_rate))
        check_range("rho", rho, 0, 1, high_inclusive=False)
        check_range("momentum", momentum, 0, 1, high_inclusive=False)
        check_positive("epsilon", epsilon)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho, self.momentum, self.epsilon = rho, momentum, epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._mean_squares, self._velocities = self.add_optimizer_variables(
            var_list, ["mean_square", "velocity"]
        )

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        g = ops.cast(gradient, dtype)
        index = self._get_variable_index(variable)
        r, v = self._mean_squares[index], self._velocities[index]
        rho = ops.cast(self.rho, dtype)
        alpha = ops.cast(self.momentum, dtype)
        new_r = ops.add(ops.multiply(rho, r), ops.multiply(1.0 - rho, ops.square(g)))
        step = ops.divide(
            ops.multiply(lr, g), ops.add(ops.sqrt(new_r), ops.cast(self.epsilon, dtype))
        )
        new_v = ops.subtract(ops.multiply(alpha, v), step)
        self.assign_add(
            variable, ops.subtract(ops.multiply(1.0 + alpha, new_v), ops.multiply(alpha, v))
        )
        self.assign(r, new_r)
        self.assign(v, new_v)

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon})
        return config
