"""Shared second-order math and model diagnostics.

TensorFlow backend (these use `tf.GradientTape`): Hessian-vector products by double
back-propagation (Pearlmutter 1994, "Fast exact multiplication by the Hessian"), the
curvature along the gradient g^T H g (Goodfellow et al., Deep Learning, sec. 8.2.1:
ill-conditioning shows as g^T H g growing while g^T g does not shrink), and the top Hessian
eigenvalue by power iteration. A dense Hessian is never formed here.

`loss_fn` arguments are zero-argument callables returning a scalar tensor computed from
`variables` (a list of `tf.Variable` or tensors, which are watched). `model_loss_fn` and
`submodel` work on every backend; the others raise `kerasopt._backend.BackendError` elsewhere.
"""

from kerasopt._backend import require_tensorflow
from kerasopt._backend import tf as _tf  # private: the API reference lists __all__ only
from kerasopt._validation import check_graph_model

__all__ = [
    "gradient",
    "hessian_vector_product",
    "gradient_curvature",
    "top_hessian_eigenvalue",
    "model_loss_fn",
    "submodel",
    "scale_report",
]


# What to use on JAX instead of the tape-based diagnostics.
_ALTERNATIVE = "jax.grad / jax.jvp on a stateless loss (model.stateless_call)"


def _require_tensorflow(name):
    require_tensorflow(f"kerasopt.diagnostics.{name}", _ALTERNATIVE)


def _as_list(variables):
    return list(variables) if isinstance(variables, (list, tuple)) else [variables]


def _dot(xs, ys):
    return _tf.add_n(
        [_tf.reduce_sum(x * _tf.cast(y, x.dtype)) for x, y in zip(xs, ys, strict=False)]
    )


def gradient(loss_fn, variables):
    """`(loss, [dloss/dv for v in variables])`, zeros for variables the loss ignores.

    Example:
        >>> import tensorflow as tf
        >>> from kerasopt.diagnostics import gradient
        >>> w = tf.Variable([1.0, 2.0])
        >>> loss, (g,) = gradient(lambda: tf.reduce_sum(w ** 2), [w])
        >>> float(loss), g.numpy().tolist()  # d/dw sum(w^2) = 2w
        (5.0, [2.0, 4.0])
    """
    _require_tensorflow("gradient")
    variables = _as_list(variables)
    with _tf.GradientTape() as tape:
        tape.watch(variables)
        loss = loss_fn()
    grads = tape.gradient(loss, variables, unconnected_gradients=_tf.UnconnectedGradients.ZERO)
    return loss, grads


def hessian_vector_product(loss_fn, variables, vectors):
    """H v for the Hessian H of `loss_fn` at `variables`; `vectors` matches `variables`.

    Double back-propagation: H v = d/dw (grad(w) . v), one extra backward pass.

    Example:
        For f(w) = w0^2 + 3 w0 w1 the Hessian is [[2, 3], [3, 0]]:

        >>> import tensorflow as tf
        >>> from kerasopt.diagnostics import hessian_vector_product
        >>> w = tf.Variable([1.0, 1.0])
        >>> (hv,) = hessian_vector_product(lambda: w[0] ** 2 + 3 * w[0] * w[1], [w], [tf.constant([1.0, 0.0])])
        >>> hv.numpy().tolist()
        [2.0, 3.0]
    """
    _require_tensorflow("hessian_vector_product")
    variables = _as_list(variables)
    vectors = _as_list(vectors)
    with _tf.GradientTape() as outer:
        outer.watch(variables)
        _, grads = gradient(loss_fn, variables)
        gv = _dot(grads, vectors)
    return outer.gradient(gv, variables, unconnected_gradients=_tf.UnconnectedGradients.ZERO)


def gradient_curvature(loss_fn, variables):
    """Dictionary with `loss`, `grad_sq` = g^T g and `gHg` = g^T H g at `variables`.

    Example:
        For f(w) = sum(c w^2 / 2), g = c w and g^T H g = sum(c^3 w^2):

        >>> import tensorflow as tf
        >>> from kerasopt.diagnostics import gradient_curvature
        >>> w, c = tf.Variable([1.0, 1.0]), tf.constant([1.0, 2.0])
        >>> out = gradient_curvature(lambda: tf.reduce_sum(c * w ** 2) / 2, [w])
        >>> float(out["grad_sq"]), float(out["gHg"])
        (5.0, 9.0)
    """
    _require_tensorflow("gradient_curvature")
    variables = _as_list(variables)
    with _tf.GradientTape() as outer:
        outer.watch(variables)
        loss, grads = gradient(loss_fn, variables)
        # stop_gradient: the vector is the gradient's value, not a function of w
        gv = _dot(grads, [_tf.stop_gradient(g) for g in grads])
    hg = outer.gradient(gv, variables, unconnected_gradients=_tf.UnconnectedGradients.ZERO)
    return {"loss": loss, "grad_sq": _dot(grads, grads), "gHg": _dot(grads, hg)}


def top_hessian_eigenvalue(loss_fn, variables, iterations=100, tol=1e-6, seed=0):
    """Eigenvalue of largest magnitude of the Hessian, by power iteration on H v.

    Returns `(eigenvalue, eigenvector_list)`. The Rayleigh quotient v^T H v of the unit
    iterate is reported; iteration stops when it changes by less than `tol` (relative) or
    after `iterations` products. Power iteration converges to the eigenvalue of largest
    absolute value, which is the top curvature whenever the Hessian is not dominated by
    a negative direction.

    Example:
        >>> import tensorflow as tf
        >>> from kerasopt.diagnostics import top_hessian_eigenvalue
        >>> w = tf.Variable([0.5, -0.5, 1.0])
        >>> eigenvalue, _ = top_hessian_eigenvalue(lambda: tf.reduce_sum(tf.constant([1.0, 4.0, 2.0]) * w ** 2), [w])
        >>> round(float(eigenvalue), 4)  # H = diag(2, 8, 4)
        8.0
    """
    _require_tensorflow("top_hessian_eigenvalue")
    variables = _as_list(variables)
    rng = _tf.random.Generator.from_seed(seed)
    vs = [rng.normal(_tf.shape(v), dtype=v.dtype) for v in variables]
    norm = _tf.sqrt(_dot(vs, vs))
    vs = [v / norm for v in vs]
    eig = None
    for _ in range(iterations):
        hv = hessian_vector_product(loss_fn, variables, vs)
        new = float(_dot(vs, hv))
        norm = _tf.sqrt(_dot(hv, hv))
        if float(norm) == 0.0:
            return 0.0, vs
        vs = [h / norm for h in hv]
        if eig is not None and abs(new - eig) <= tol * max(abs(new), 1e-30):
            eig = new
            break
        eig = new
    return eig, vs


def model_loss_fn(model, x, y, sample_weight=None, training=False):
    """A zero-argument closure: the compiled model's loss on `(x, y)`, regularizers included.

    Uses `model.compute_loss`, so it is exactly the loss `fit` minimizes (plus the model's
    `losses`, e.g. kernel regularizers). The model must be compiled.

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.diagnostics import model_loss_fn
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="ones", use_bias=False)])
        >>> model.compile(loss="mse")
        >>> loss_fn = model_loss_fn(model, np.array([[1.0], [2.0]]), np.array([[0.0], [0.0]]))
        >>> float(loss_fn())  # (1^2 + 2^2) / 2
        2.5
    """
    if getattr(model, "compiled", False) is False:
        raise ValueError(
            "Argument `model` must be compiled (it supplies the loss). "
            f"Received: model={model.name!r}, not compiled"
        )

    def loss_fn():
        y_pred = model(x, training=training)
        return model.compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
        )

    return loss_fn


# Scale report: activation and gradient statistics per layer on one minibatch.
_SATURATION = {"tanh": lambda a: _tf.abs(a) > 0.99, "sigmoid": lambda a: (a < 0.01) | (a > 0.99)}


def _activation_name(layer):
    import keras

    if isinstance(layer, keras.layers.ReLU):
        return "relu"
    return getattr(getattr(layer, "activation", None), "__name__", None)


def submodel(model, outputs):
    """A functional `keras.Model` from `model`'s inputs to `outputs` (tensors of its graph),
    sharing its layers and weights; `model` must be a built Sequential or functional model.

    Example:
        >>> import keras
        >>> from kerasopt.diagnostics import submodel
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="hidden"), keras.layers.Dense(1)])
        >>> submodel(model, model.get_layer("hidden").output).output_shape
        (None, 4)
    """
    import keras

    check_graph_model("model", model)
    inputs = model.inputs
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs)


def scale_report(model, x, y=None):
    """Per-layer scale statistics of `model` on the minibatch `x` (Goodfellow et al., Deep
    Learning, sec. 8.4: "look at the range or standard deviation of activations or gradients
    on a single minibatch of data"; Glorot & Bengio 2010, sec. 4.2 for saturation).

    Runs the model once in inference mode (TF backend: gradients by `tf.GradientTape`).
    For every top-level layer of a Sequential or functional model (input layers skipped),
    a dict with:

    - `layer`, `class`, `activation` (its activation's name, or None),
    - `mean`, `std`: mean and standard deviation of the layer's output values,
    - `dead_fraction` (relu): fraction of units (last axis) that output 0 on every example
      and position of the batch; None for other activations,
    - `saturated_fraction` (tanh, sigmoid): fraction of output values with |tanh| > 0.99,
      or sigmoid outside [0.01, 0.99]; None for other activations,
    - with `y` (the model must be compiled, its loss is used): `grad_std`, the standard
      deviation of d loss / d layer output, and `kernel_grad_std` for layers with a kernel
      (None otherwise).

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.diagnostics import scale_report
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="h"),
        ...                           keras.layers.Dense(3, activation="softmax", name="out")])
        >>> model.compile(loss="sparse_categorical_crossentropy")
        >>> x = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
        >>> report = scale_report(model, x, np.zeros(64, "int64"))
        >>> [row["layer"] for row in report], 0.0 <= report[0]["dead_fraction"] <= 1.0
        (['h', 'out'], True)

    References:
        Goodfellow, Bengio & Courville, Deep Learning, 2016, sec. 8.4; Glorot & Bengio,
        "Understanding the difficulty of training deep feedforward neural networks", AISTATS 2010.
    """
    _require_tensorflow("scale_report")
    import keras

    check_graph_model("model", model)
    if y is not None and getattr(model, "compiled", False) is False:
        raise ValueError(
            f"Argument `model` must be compiled when `y` is given (its loss is used). Received: model={model.name!r}"
        )
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    probe = submodel(model, [layer.output for layer in layers] + list(model.outputs))
    kernels = [getattr(layer, "kernel", None) for layer in layers]
    with _tf.GradientTape() as tape:
        values = probe(x, training=False)
        outputs, y_pred = values[: len(layers)], values[len(layers) :]
        if y is not None:
            loss = model.compute_loss(
                x=x, y=y, y_pred=y_pred[0] if len(y_pred) == 1 else y_pred, training=False
            )
    if y is not None:
        with_kernel = [k for k in kernels if k is not None]
        grads = tape.gradient(loss, outputs + with_kernel)
        kernel_grads = iter(grads[len(outputs) :])
    report = []
    for i, (layer, out) in enumerate(zip(layers, outputs, strict=True)):
        out = _tf.cast(out, "float32")
        name = _activation_name(layer)
        row = {
            "layer": layer.name,
            "class": type(layer).__name__,
            "activation": name,
            "mean": float(_tf.reduce_mean(out)),
            "std": float(_tf.math.reduce_std(out)),
            "dead_fraction": None,
            "saturated_fraction": None,
        }
        if name == "relu":
            flat = _tf.reshape(out, (-1, out.shape[-1]))
            row["dead_fraction"] = float(
                _tf.reduce_mean(_tf.cast(_tf.reduce_all(flat == 0, axis=0), "float32"))
            )
        elif name in _SATURATION:
            row["saturated_fraction"] = float(
                _tf.reduce_mean(_tf.cast(_SATURATION[name](out), "float32"))
            )
        if y is not None:
            row["grad_std"] = (
                None
                if grads[i] is None
                else float(_tf.math.reduce_std(_tf.cast(grads[i], "float32")))
            )
            kernel_grad = None if kernels[i] is None else next(kernel_grads)
            row["kernel_grad_std"] = (
                None if kernel_grad is None else float(_tf.math.reduce_std(kernel_grad))
            )
        report.append(row)
    return report
