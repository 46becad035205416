"""Layer-sequential unit-variance initialization (Mishkin & Matas 2015, "All you need is a
good init", algorithm 1).

1. Pre-initialize every Dense/Conv kernel with an orthonormal matrix (Saxe et al. 2014).
2. From the first layer to the last: compute the layer's output B on a minibatch; while
   |Var(B) - target| >= tol and fewer than `max_iter` steps: W <- W * sqrt(target / Var(B)).

"The layer's output" is by default (`measure="affine"`) its affine output, before a fused
activation: Caffe, where the paper was written, has the nonlinearity as a separate layer,
so a Keras `Dense(units, activation="relu")` is measured like `Dense(units)` followed by
`ReLU()`. `measure="output"` uses what the Keras layer returns, activation included (a
bounded activation such as softmax may then be unable to reach the target; the report
says so).
The variance is taken over every element of B (examples, positions and units), and the
tolerance is absolute, as in the paper.
"""

import keras
from keras import ops

from kerasopt._validation import check_choice, check_graph_model, check_int, check_positive
from kerasopt.diagnostics import submodel

_LAYERS = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def _output(layer, inputs, measure):
    """The layer's output; for "affine" with its activation replaced by the identity."""
    if measure == "output":
        return layer(inputs)
    activation = layer.activation
    layer.activation = keras.activations.linear
    try:
        return layer(inputs)
    finally:
        layer.activation = activation


def lsuv(model, x, target_variance=1.0, tol=0.05, max_iter=10, seed=None, measure="affine"):
    """Initialize `model`'s Dense and Conv1D/2D/3D kernels in place by LSUV; return a report.

    Args:
        model: a built `keras.Sequential` or functional `keras.Model`; each Dense/Conv layer
            must be called once in it (layers of nested models are not visited).
        x: one minibatch of inputs, as `model` takes them.
        target_variance: the variance each layer's output should have (> 0).
        tol: accepted absolute deviation |Var(B) - target_variance| (> 0).
        max_iter: maximum number of rescaling steps per layer (>= 1).
        seed: seed of the orthonormal pre-initialization (None, int, or SeedGenerator).
        measure: "affine" (default, the paper's: before the layer's fused activation) or
            "output" (after it).

    Returns:
        A list with one dict per initialized layer, in order: `layer` (name),
        `initial_variance` (after the orthonormal start), `variance` (final), `scale` (the
        product of all rescalings), `iterations`, `converged` (final within `tol`).

    Example:
        >>> import keras, numpy as np
        >>> from kerasopt.initializers import lsuv
        >>> model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, activation="tanh"),
        ...                           keras.layers.Dense(4)])
        >>> x = np.random.default_rng(0).normal(size=(256, 16)).astype("float32")
        >>> report = lsuv(model, x, seed=0)
        >>> [abs(row["variance"] - 1.0) <= 0.05 for row in report]
        [True, True]

    References:
        Mishkin & Matas, "All you need is a good init", ICLR 2016 (arXiv:1511.06422).
    """
    check_graph_model("model", model)
    target = check_positive("target_variance", target_variance)
    tol = check_positive("tol", tol)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    check_choice("measure", measure, ("affine", "output"))
    layers = [layer for layer in model.layers if isinstance(layer, _LAYERS)]
    if not layers:
        raise ValueError(
            f"Argument `model` must contain a Dense or Conv layer. Received: model={model.name!r}"
        )
    generator = (
        seed if isinstance(seed, keras.random.SeedGenerator) else keras.random.SeedGenerator(seed)
    )
    for layer in layers:
        layer.kernel.assign(
            keras.initializers.Orthogonal(seed=generator)(layer.kernel.shape, layer.kernel.dtype)
        )
    report = []
    for layer in layers:
        inputs = submodel(model, layer.input)(x)
        variance = initial = float(ops.var(_output(layer, inputs, measure)))
        scale, steps = 1.0, 0
        while abs(variance - target) >= tol and steps < max_iter:
            factor = (target / max(variance, 1e-30)) ** 0.5
            layer.kernel.assign(layer.kernel * factor)
            scale *= factor
            steps += 1
            variance = float(ops.var(_output(layer, inputs, measure)))
        report.append(
            {
                "layer": layer.name,
                "initial_variance": initial,
                "variance": variance,
                "scale": scale,
                "iterations": steps,
                "converged": abs(variance - target) < tol,
            }
        )
    return report
