"""Recommended gains per activation, and Glorot/He/LeCun/orthogonal presets built on them.

The gain of an activation phi is the weight scale that keeps the variance of the
pre-activations fixed from layer to layer. With zero-mean weights of variance
gain^2 / fan_in, a pre-activation h' = W phi(h) has

    Var(h') = gain^2 * E[phi(h)^2]                          (He et al. 2015, eq. 8-10)

so Var(h) = 1 is a fixed point of this "length map" (Poole et al. 2016, eq. 3) exactly when

    gain^2 = 1 / E_{z ~ N(0, 1)}[phi(z)^2].

Closed forms: linear 1 (LeCun et al. 1998; Glorot & Bengio 2010), relu sqrt(2) and
leaky_relu with negative slope a sqrt(2 / (1 + a^2)) (He et al. 2015, "Delving deep into
rectifiers", sec. 2.2), selu 1 (Klambauer et al. 2017: SELU's lambda and alpha are chosen so
that E[selu(z)^2] = 1). For tanh and sigmoid the expectation has no closed form and is
computed by Gauss-Hermite quadrature: tanh ~1.593, sigmoid ~1.846. (PyTorch's
`calculate_gain` uses the heuristics 5/3 for tanh and 1 for sigmoid; the values here follow
the derivation above.)

The presets are thin factories returning Keras' own `VarianceScaling` / `Orthogonal`
initializers with `scale = gain^2` (or `gain`), so models that use them need nothing from
kerasopt to load (Goodfellow et al., Deep Learning, sec. 8.4).
"""

import math

import keras
import numpy as np

from kerasopt._validation import check_choice, check_range

ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


def _second_moment(phi, degree=201):
    """E[phi(z)^2] for z ~ N(0, 1) by Gauss-Hermite (probabilists') quadrature."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(degree)
    return float(np.sum(weights * phi(nodes) ** 2) / math.sqrt(2.0 * math.pi))


def gain(activation, param=None):
    """The gain for `activation`: 1 / sqrt(E[phi(z)^2]), z ~ N(0, 1) (see module docstring).

    Args:
        activation: one of "linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu".
        param: the negative slope of "leaky_relu" (default 0.01, as in He et al. 2015's
            Leaky ReLU baseline); must be None for the other activations.

    Returns:
        A Python float.

    Example:
        >>> from kerasopt.initializers import gain
        >>> gain("linear"), round(gain("relu") ** 2, 6), round(gain("tanh"), 3)
        (1.0, 2.0, 1.593)

    References:
        He et al., "Delving Deep into Rectifiers", ICCV 2015, eq. 8-10; Poole et al.,
        "Exponential expressivity in deep neural networks through transient chaos", NeurIPS 2016;
        Klambauer et al., "Self-Normalizing Neural Networks", NeurIPS 2017.
    """
    check_choice("activation", activation, ACTIVATIONS)
    if activation != "leaky_relu" and param is not None:
        raise ValueError(
            f"Argument `param` must be None for activation={activation!r} "
            f"(only 'leaky_relu' takes a slope). Received: param={param!r}"
        )
    if activation in ("linear", "selu"):
        return 1.0
    if activation == "relu":
        return math.sqrt(2.0)
    if activation == "leaky_relu":
        slope = 0.01 if param is None else check_range("param", param, 0.0, 1.0)
        return math.sqrt(2.0 / (1.0 + slope**2))
    if activation == "tanh":
        return 1.0 / math.sqrt(_second_moment(np.tanh))
    return 1.0 / math.sqrt(_second_moment(lambda z: 1.0 / (1.0 + np.exp(-z))))


def _variance_scaling(mode, activation, param, distribution, seed):
    check_choice("distribution", distribution, _DISTRIBUTIONS)
    return keras.initializers.VarianceScaling(
        scale=gain(activation, param) ** 2, mode=mode, distribution=distribution, seed=seed
    )


def glorot(activation="linear", param=None, distribution="uniform", seed=None):
    """Glorot & Bengio (2010) scaling for `activation`: Var(W) = gain^2 * 2 / (fan_in + fan_out).

    With the default "linear" this is `keras.initializers.GlorotUniform`.

    Example:
        >>> import numpy as np
        >>> from kerasopt.initializers import glorot
        >>> w = np.asarray(glorot("linear", seed=0)((400, 600)))
        >>> round(float(w.var()) * (400 + 600) / 2, 2)  # Var(W) = 2 / (fan_in + fan_out)
        1.0

    References:
        Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
        networks", AISTATS 2010.
    """
    return _variance_scaling("fan_avg", activation, param, distribution, seed)


def he(activation="relu", param=None, distribution="truncated_normal", seed=None):
    """He et al. (2015) scaling: Var(W) = gain^2 / fan_in; "relu" gives `keras.initializers.HeNormal`.

    Example:
        >>> import numpy as np
        >>> from kerasopt.initializers import he
        >>> w = np.asarray(he(seed=0)((500, 500)))
        >>> round(float(w.var()) * 500 / 2, 1)  # Var(W) = 2 / fan_in for ReLU
        1.0

    References:
        He et al., "Delving Deep into Rectifiers", ICCV 2015.
    """
    return _variance_scaling("fan_in", activation, param, distribution, seed)


def lecun(activation="linear", param=None, distribution="truncated_normal", seed=None):
    """LeCun et al. (1998, "Efficient BackProp") scaling Var(W) = gain^2 / fan_in, default linear gain 1.

    "selu" gives `keras.initializers.LecunNormal`, the init SELU networks need (Klambauer et al. 2017).

    Example:
        >>> import numpy as np
        >>> from kerasopt.initializers import lecun
        >>> w = np.asarray(lecun(seed=0)((500, 500)))
        >>> round(float(w.var()) * 500, 1)  # Var(W) = 1 / fan_in
        1.0

    References:
        LeCun et al., "Efficient BackProp", 1998.
    """
    return _variance_scaling("fan_in", activation, param, distribution, seed)


def orthogonal(activation="linear", param=None, seed=None):
    """Saxe et al. (2014) orthogonal weights times `gain(activation)`: `keras.initializers.Orthogonal`.

    Example:
        >>> import numpy as np
        >>> from kerasopt.initializers import gain, orthogonal
        >>> w = np.asarray(orthogonal("tanh", seed=0)((4, 4)))
        >>> bool(np.allclose(w.T @ w, gain("tanh") ** 2 * np.eye(4), atol=1e-5))
        True

    References:
        Saxe et al., "Exact solutions to the nonlinear dynamics of learning in deep linear
        neural networks", ICLR 2014.
    """
    return keras.initializers.Orthogonal(gain=gain(activation, param), seed=seed)
