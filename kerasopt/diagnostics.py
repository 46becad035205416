"""Shared second-order math and model diagnostics.

TensorFlow backend (these use `tf.GradientTape`): Hessian-vector products by double
back-propagation (Pearlmutter 1994, "Fast exact multiplication by the Hessian"), the
curvature along the gradient g^T H g (Goodfellow et al., Deep Learning, sec. 8.2.1:
ill-conditioning shows as g^T H g growing while g^T g does not shrink), and the top Hessian
eigenvalue by power iteration. A dense Hessian is never formed here.

`loss_fn` arguments are zero-argument callables returning a scalar tensor computed from
`variables` (a list of `tf.Variable` or tensors, which are watched).
"""

import tensorflow as tf


def _as_list(variables):
    return list(variables) if isinstance(variables, (list, tuple)) else [variables]


def _dot(xs, ys):
    return tf.add_n([tf.reduce_sum(x * tf.cast(y, x.dtype)) for x, y in zip(xs, ys)])


def gradient(loss_fn, variables):
    """`(loss, [dloss/dv for v in variables])`, zeros for variables the loss ignores."""
    variables = _as_list(variables)
    with tf.GradientTape() as tape:
        tape.watch(variables)
        loss = loss_fn()
    grads = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return loss, grads


def hessian_vector_product(loss_fn, variables, vectors):
    """H v for the Hessian H of `loss_fn` at `variables`; `vectors` matches `variables`.

    Double back-propagation: H v = d/dw (grad(w) . v), one extra backward pass.
    """
    variables = _as_list(variables)
    vectors = _as_list(vectors)
    with tf.GradientTape() as outer:
        outer.watch(variables)
        _, grads = gradient(loss_fn, variables)
        gv = _dot(grads, vectors)
    return outer.gradient(gv, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def gradient_curvature(loss_fn, variables):
    """Dictionary with `loss`, `grad_sq` = g^T g and `gHg` = g^T H g at `variables`."""
    variables = _as_list(variables)
    with tf.GradientTape() as outer:
        outer.watch(variables)
        loss, grads = gradient(loss_fn, variables)
        # stop_gradient: the vector is the gradient's value, not a function of w
        gv = _dot(grads, [tf.stop_gradient(g) for g in grads])
    hg = outer.gradient(gv, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return {"loss": loss, "grad_sq": _dot(grads, grads), "gHg": _dot(grads, hg)}


def top_hessian_eigenvalue(loss_fn, variables, iterations=100, tol=1e-6, seed=0):
    """Eigenvalue of largest magnitude of the Hessian, by power iteration on H v.

    Returns `(eigenvalue, eigenvector_list)`. The Rayleigh quotient v^T H v of the unit
    iterate is reported; iteration stops when it changes by less than `tol` (relative) or
    after `iterations` products. Power iteration converges to the eigenvalue of largest
    absolute value, which is the top curvature whenever the Hessian is not dominated by
    a negative direction.
    """
    variables = _as_list(variables)
    rng = tf.random.Generator.from_seed(seed)
    vs = [rng.normal(tf.shape(v), dtype=v.dtype) for v in variables]
    norm = tf.sqrt(_dot(vs, vs))
    vs = [v / norm for v in vs]
    eig = None
    for _ in range(iterations):
        hv = hessian_vector_product(loss_fn, variables, vs)
        new = float(_dot(vs, hv))
        norm = tf.sqrt(_dot(hv, hv))
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
    """
    if getattr(model, "compiled", False) is False:
        raise ValueError(
            "Argument `model` must be compiled (it supplies the loss). "
            f"Received: model={model.name!r}, not compiled"
        )

    def loss_fn():
        y_pred = model(x, training=training)
        return model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)

    return loss_fn
