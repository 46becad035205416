"""Shared second-order math and model diagnostics, on the TensorFlow and JAX backends.

Hessian-vector products (Pearlmutter 1994, "Fast exact multiplication by the Hessian"), the
curvature along the gradient g^T H g (Goodfellow et al., Deep Learning, sec. 8.2.1:
ill-conditioning shows as g^T H g growing while g^T g does not shrink), and the top Hessian
eigenvalue by power iteration. A dense Hessian is never formed here.

`loss_fn` arguments are zero-argument callables returning a scalar computed from `variables`
(a list of `keras.Variable`; on TensorFlow also `tf.Variable` or tensors, which are watched).
TensorFlow differentiates by double back-propagation with `tf.GradientTape`. JAX reads the
variables inside a `keras.StatelessScope` that maps each to a traced value, so the closure is
a pure function of those values for `jax.grad`, and H v is forward-over-reverse (`jax.jvp` of
`jax.grad`), as Keras' own JAX trainer runs `model.stateless_call`. Other backends raise
`kerasopt._backend.BackendError`; `model_loss_fn` and `submodel` work on every backend.
"""

import keras
import numpy as np
from keras import ops

from kerasopt._backend import BackendError, backend
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

_SUPPORTED = ("tensorflow", "jax")


def _differentiable(name, variables):
    """`variables` as a list the backend differentiates with respect to: on TensorFlow the
    backing `tf.Variable` of each `keras.Variable`; on JAX the `keras.Variable`s themselves."""
    received = backend()
    if received not in _SUPPORTED:
        raise BackendError(
            f"kerasopt.diagnostics.{name} needs the TensorFlow backend or the JAX backend. "
            f"Received: KERAS_BACKEND={received!r}. Set KERAS_BACKEND=tensorflow or "
            "KERAS_BACKEND=jax."
        )
    variables = list(variables) if isinstance(variables, (list, tuple)) else [variables]
    if received == "tensorflow":
        return [v.value if isinstance(v, keras.Variable) else v for v in variables]
    for i, v in enumerate(variables):
        if not isinstance(v, keras.Variable):
            raise TypeError(
                "Argument `variables` must hold keras.Variable objects on the JAX backend (the "
                "loss reads them inside a keras.StatelessScope). Received: "
                f"variables[{i}]={type(v).__name__}"
            )
    return variables


def _jax_loss(loss_fn, variables):
    """`loss_fn` as a pure function of the values of `variables` (JAX)."""

    def loss_of(values):
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            return loss_fn()

    return loss_of


def _jax_hvp(loss_fn, variables):
    """`hvp(values, vectors)`: H v at `values`, forward-over-reverse (JAX)."""
    import jax

    grad = jax.grad(_jax_loss(loss_fn, variables))
    return lambda values, vectors: jax.jvp(grad, (values,), (vectors,))[1]


def _like(vectors, variables):
    """`vectors` as tensors of the variables' dtypes."""
    vectors = list(vectors) if isinstance(vectors, (list, tuple)) else [vectors]
    return [
        ops.convert_to_tensor(u, dtype=v.dtype) for u, v in zip(vectors, variables, strict=True)
    ]


def _dot(xs, ys):
    return sum(ops.sum(x * ops.cast(y, x.dtype)) for x, y in zip(xs, ys, strict=True))


def gradient(loss_fn, variables):
    """`(loss, [dloss/dv for v in variables])`, zeros for variables the loss ignores.

    Example:
        >>> import keras
        >>> from kerasopt.diagnostics import gradient
        >>> w = keras.Variable([1.0, 2.0])
        >>> loss, (g,) = gradient(lambda: keras.ops.sum(w ** 2), [w])
        >>> float(loss), keras.ops.convert_to_numpy(g).tolist()  # d/dw sum(w^2) = 2w
        (5.0, [2.0, 4.0])
    """
    variables = _differentiable("gradient", variables)
    if backend() == "jax":
        import jax

        return jax.value_and_grad(_jax_loss(loss_fn, variables))([v.value for v in variables])
    with _tf.GradientTape() as tape:
        tape.watch(variables)
        loss = loss_fn()
    grads = tape.gradient(loss, variables, unconnected_gradients=_tf.UnconnectedGradients.ZERO)
    return loss, grads


def hessian_vector_product(loss_fn, variables, vectors):
    """H v for the Hessian H of `loss_fn` at `variables`; `vectors` matches `variables`.

    Double back-propagation on TensorFlow, H v = d/dw (grad(w) . v); forward-over-reverse on
    JAX, the directional derivative of the gradient along v.

    Example:
        For f(w) = w0^2 + 3 w0 w1 the Hessian is [[2, 3], [3, 0]]:

        >>> import keras
        >>> from kerasopt.diagnostics import hessian_vector_product
        >>> w = keras.Variable([1.0, 1.0])
        >>> (hv,) = hessian_vector_product(lambda: w[0] ** 2 + 3 * w[0] * w[1], [w], [[1.0, 0.0]])
        >>> keras.ops.convert_to_numpy(hv).tolist()
        [2.0, 3.0]
    """
    variables = _differentiable("hessian_vector_product", variables)
    vectors = _like(vectors, variables)
    if backend() == "jax":
        return _jax_hvp(loss_fn, variables)([v.value for v in variables], vectors)
    with _tf.GradientTape() as outer:
        outer.watch(variables)
        _, grads = gradient(loss_fn, variables)
        gv = _dot(grads, vectors)
    return outer.gradient(gv, variables, unconnected_gradients=_tf.UnconnectedGradients.ZERO)


def gradient_curvature(loss_fn, variables):
    """Dictionary with `loss`, `grad_sq` = g^T g and `gHg` = g^T H g at `variables`.

    Example:
        For f(w) = sum(c w^2 / 2), g = c w and g^T H g = sum(c^3 w^2):

        >>> import keras
        >>> from kerasopt.diagnostics import gradient_curvature
        >>> w, c = keras.Variable([1.0, 1.0]), keras.ops.convert_to_tensor([1.0, 2.0])
        >>> out = gradient_curvature(lambda: keras.ops.sum(c * w ** 2) / 2, [w])
        >>> float(out["grad_sq"]), float(out["gHg"])
        (5.0, 9.0)
    """
    variables = _differentiable("gradient_curvature", variables)
    if backend() == "jax":
        loss, grads = gradient(loss_fn, variables)
        hg = _jax_hvp(loss_fn, variables)([v.value for v in variables], grads)
    else:
        with _tf.GradientTape() as outer:
            outer.watch(variables)
            loss, grads = gradient(loss_fn, variables)
            # stop_gradient: the vector is the gradient's value, not a function of w
            gv = _dot(grads, [_tf.stop_gradient(g) for g in grads])
        hg = outer.gradient(gv, variables, unconnected_gradients=_tf.UnconnectedGradients.ZERO)
    return {"loss": loss, "grad_sq": _dot(grads, grads), "gHg": _dot(grads, hg)}


def top_hessian_eigenvalue(loss_fn, variables, iterations=100, tol=1e-6, seed=0):
    """Eigenvalue of largest magnitude of the Hessian, by power iteration on H v.

    Returns `(eigenvalue, eigenvector_list)`. The iteration starts from a standard normal
    vector (NumPy, `seed`), normalized. The Rayleigh quotient v^T H v of the unit
    iterate is reported; iteration stops when it changes by less than `tol` (relative) or
    after `iterations` products. Power iteration converges to the eigenvalue of largest
    absolute value, which is the top curvature whenever the Hessian is not dominated by
    a negative direction. On JAX the product is compiled once (`jax.jit`), so `loss_fn` must
    be traceable.

    Example:
        >>> import keras
        >>> from kerasopt.diagnostics import top_hessian_eigenvalue
        >>> w = keras.Variable([0.5, -0.5, 1.0])
        >>> eigenvalue, _ = top_hessian_eigenvalue(lambda: keras.ops.sum(keras.ops.convert_to_tensor([1.0, 4.0, 2.0]) * w ** 2), [w])
        >>> round(float(eigenvalue), 4)  # H = diag(2, 8, 4)
        8.0
    """
    variables = _differentiable("top_hessian_eigenvalue", variables)
    if backend() == "jax":
        import jax

        values, product = [v.value for v in variables], jax.jit(_jax_hvp(loss_fn, variables))
        hvp = lambda vs: product(values, vs)  # noqa: E731
    else:
        hvp = lambda vs: hessian_vector_product(loss_fn, variables, vs)  # noqa: E731
    rng = np.random.default_rng(seed)
    vs = _like([rng.normal(size=tuple(v.shape)) for v in variables], variables)
    norm = ops.sqrt(_dot(vs, vs))
    vs = [v / norm for v in vs]
    eig = None
    for _ in range(iterations):
        hv = hvp(vs)
        new = float(_dot(vs, hv))
        norm = float(ops.sqrt(_dot(hv, hv)))
        if norm == 0.0:
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
_SATURATION = {"tanh": lambda a: np.abs(a) > 0.99, "sigmoid": lambda a: (a < 0.01) | (a > 0.99)}


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

    Runs the model once in inference mode (with `y`, once more for the gradients, by
    `gradient` on TensorFlow or JAX).
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
    check_graph_model("model", model)
    if y is not None and getattr(model, "compiled", False) is False:
        raise ValueError(
            f"Argument `model` must be compiled when `y` is given (its loss is used). Received: model={model.name!r}"
        )
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    probe = submodel(model, [layer.output for layer in layers] + list(model.outputs))
    values = probe(x, training=False)
    outputs = [ops.convert_to_numpy(ops.cast(v, "float32")) for v in values[: len(layers)]]
    if y is not None:
        shapes = [tuple(v.shape) for v in values[: len(layers)]]
        grads, kernel_grads = _output_and_kernel_gradients(model, probe, layers, shapes, x, y)
    report = []
    for i, (layer, out) in enumerate(zip(layers, outputs, strict=True)):
        name = _activation_name(layer)
        row = {
            "layer": layer.name,
            "class": type(layer).__name__,
            "activation": name,
            "mean": float(out.mean()),
            "std": float(out.std()),
            "dead_fraction": None,
            "saturated_fraction": None,
        }
        if name == "relu":
            flat = out.reshape(-1, out.shape[-1])
            row["dead_fraction"] = float(np.mean(np.all(flat == 0, axis=0)))
        elif name in _SATURATION:
            row["saturated_fraction"] = float(np.mean(_SATURATION[name](out)))
        if y is not None:
            row["grad_std"] = float(grads[i].std())
            row["kernel_grad_std"] = (
                None if kernel_grads[i] is None else float(kernel_grads[i].std())
            )
        report.append(row)
    return report


def _output_and_kernel_gradients(model, probe, layers, shapes, x, y):
    """d loss / d (each layer's output) and d loss / d (each layer's kernel, or None), as
    float32 NumPy arrays, by `gradient` on every backend: the probe is rebuilt on the same
    layers with a zero shift variable added to each layer's output, so the gradient with
    respect to the shift is the gradient with respect to the output."""
    shifts, shapes = {}, {id(layer): shape for layer, shape in zip(layers, shapes, strict=True)}

    def call_function(layer, *args, **kwargs):
        out = layer(*args, **kwargs)
        shift = keras.Variable(np.zeros(shapes[id(layer)]), dtype=out.dtype, trainable=False)
        shifts[id(layer)] = shift
        return out + shift

    shifted = keras.models.clone_model(
        probe, clone_function=lambda layer: layer, call_function=call_function
    )
    kernels = [getattr(layer, "kernel", None) for layer in layers]
    wrt = [shifts[id(layer)] for layer in layers] + [k for k in kernels if k is not None]

    def loss_fn():
        y_pred = shifted(x, training=False)[len(layers) :]
        y_pred = y_pred[0] if len(y_pred) == 1 else y_pred
        return model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)

    _, grads = gradient(loss_fn, wrt)
    grads = [ops.convert_to_numpy(ops.cast(g, "float32")) for g in grads]
    with_kernel = iter(grads[len(layers) :])
    return grads[: len(layers)], [None if k is None else next(with_kernel) for k in kernels]
