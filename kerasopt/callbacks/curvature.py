"""Watch for ill-conditioning during training (Goodfellow et al., Deep Learning, sec. 8.2.1).

`kerasopt.diagnostics` on both backends: double back-propagation with `tf.GradientTape` on
TensorFlow; `jax.grad` and `jax.jvp` over the model's stateless loss on JAX
(forward-over-reverse Hessian-vector products). TensorBoard output (`log_dir`) needs
TensorFlow installed, as Keras' own TensorBoard callback does.
"""

import keras

from kerasopt._validation import check_int, check_positive


class CurvatureMonitor(keras.callbacks.Callback):
    """Log g^T g, g^T H g and the top Hessian eigenvalue every `every_n_steps` steps.

    Goodfellow et al., Deep Learning, sec. 8.2.1: a gradient step of size eps changes the
    loss by about -eps g^T g + eps^2 / 2 g^T H g, so training is ill-conditioned when
    g^T H g grows (by an order of magnitude or more) while g^T g does not shrink. The
    curvature along the gradient uses one Hessian-vector product (`diagnostics.
    gradient_curvature`), the top eigenvalue power iteration on Hessian-vector products
    (`diagnostics.top_hessian_eigenvalue`); no dense Hessian is formed. Both are taken on the
    fixed batch `data` with the compiled loss (regularizers included) in inference mode.

    The values are written as `grad_sq`, `gHg`, `top_eigenvalue` (and their ratio
    `gHg_over_grad_sq`) into the batch logs of the measured steps and, the latest of them,
    into the epoch logs (so History, CSVLogger and a later TensorBoard callback see them);
    with `log_dir` they also go to TensorBoard directly as `curvature/*` scalars against the
    optimizer's step. `self.history` keeps every measurement (with its `step`).

    Not registered as a serializable Keras object: its `data` is a batch of arrays, not
    configuration, so `get_config` leaves it out and `deserialize_keras_object` could not
    rebuild it; rebuild it with `CurvatureMonitor(data=..., **config)`.

    Args:
        every_n_steps: measure after optimizer steps 1, 1 + n, 1 + 2n, ..., integer n >= 1.
        data: a fixed batch `(x, y)` or `(x, y, sample_weight)`.
        power_iterations: maximum Hessian-vector products of the power iteration, integer >= 1.
        tol: relative change that stops the power iteration, > 0.
        log_dir: optional TensorBoard log folder.
        seed: seed of the power iteration's start vector.

    Example:
        Linear least squares has the constant Hessian H = 2/n [X 1]^T [X 1], so the monitored
        top eigenvalue can be checked against NumPy:

        >>> import keras, numpy as np
        >>> from kerasopt.callbacks import CurvatureMonitor
        >>> x = (np.random.default_rng(0).normal(size=(32, 3)) * [1, 2, 3]).astype("float32")
        >>> y = x @ np.array([[1.0], [2.0], [-1.0]], dtype="float32")
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> monitor = CurvatureMonitor(every_n_steps=2, data=(x, y), power_iterations=50)
        >>> _ = model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[monitor])
        >>> monitor.history["step"]  # the first step, then every second one
        [1, 3]
        >>> a = np.hstack([x, np.ones((32, 1), "float32")])
        >>> expected = np.linalg.eigvalsh(2 * a.T @ a / 32).max()
        >>> bool(np.isclose(monitor.history["top_eigenvalue"][-1], expected, rtol=1e-3))
        True
    """

    KEYS = ("loss", "grad_sq", "gHg", "top_eigenvalue")

    def __init__(self, every_n_steps, data, power_iterations=20, tol=1e-4, log_dir=None, seed=0):
        super().__init__()
        self.every_n_steps = check_int("every_n_steps", every_n_steps, minimum=1)
        if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
            raise ValueError(
                "Argument `data` must be a tuple (x, y) or (x, y, sample_weight). "
                f"Received: data of type {type(data).__name__}"
            )
        self.data = tuple(data)
        self.power_iterations = check_int("power_iterations", power_iterations, minimum=1)
        self.tol = check_positive("tol", tol)
        self.log_dir = None if log_dir is None else str(log_dir)
        self.seed = check_int("seed", seed)
        self.history = {key: [] for key in ("step",) + self.KEYS}
        self._writer = None
        self._latest = None

    def measure(self):
        """The curvature quantities at the model's current weights, as Python floats."""
        x, y, *rest = self.data
        sample_weight = rest[0] if rest else None
        backend = keras.backend.backend()
        if backend not in ("tensorflow", "jax"):
            raise NotImplementedError(
                f"CurvatureMonitor runs on the TensorFlow and JAX backends. Received: "
                f"KERAS_BACKEND={backend!r}"
            )
        from kerasopt import diagnostics

        loss_fn = diagnostics.model_loss_fn(self.model, x, y, sample_weight=sample_weight)
        variables = self.model.trainable_variables
        curvature = diagnostics.gradient_curvature(loss_fn, variables)
        eigenvalue, _ = diagnostics.top_hessian_eigenvalue(
            loss_fn, variables, iterations=self.power_iterations, tol=self.tol, seed=self.seed
        )
        values = {key: float(curvature[key]) for key in ("loss", "grad_sq", "gHg")}
        values["top_eigenvalue"] = float(eigenvalue)
        return values

    def on_train_begin(self, logs=None):
        if self.log_dir is not None:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_train_batch_end(self, batch, logs=None):
        if hasattr(self.model, "jax_state_sync"):
            self.model.jax_state_sync()  # JAX: the weights and step count of this batch
        step = int(self.model.optimizer.iterations)  # steps taken so far
        if (step - 1) % self.every_n_steps:
            return
        values = self.measure()
        self.history["step"].append(step)
        for key in self.KEYS:
            self.history[key].append(values[key])
        self._latest = {
            "grad_sq": values["grad_sq"],
            "gHg": values["gHg"],
            "top_eigenvalue": values["top_eigenvalue"],
            "gHg_over_grad_sq": values["gHg"] / values["grad_sq"]
            if values["grad_sq"]
            else float("nan"),
        }
        if logs is not None:
            logs.update(self._latest)
        if self._writer is not None:
            import tensorflow as tf

            with self._writer.as_default():
                for key, value in self._latest.items():
                    tf.summary.scalar(f"curvature/{key}", value, step=step)
            self._writer.flush()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._latest is not None:
            logs.update(self._latest)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def get_config(self):
        """Every argument but `data` (arrays, not configuration): rebuild with `cls(data=..., **config)`."""
        return {
            "every_n_steps": self.every_n_steps,
            "power_iterations": self.power_iterations,
            "tol": self.tol,
            "log_dir": self.log_dir,
            "seed": self.seed,
        }
