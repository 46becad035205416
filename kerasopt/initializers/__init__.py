"""Parameter initialization (Goodfellow et al., Deep Learning, sec. 8.4): gains, sparse and delta-orthogonal initializers, LSUV, output bias from label priors."""

from kerasopt.initializers.bias import PriorBias, prior_bias
from kerasopt.initializers.delta_orthogonal import DeltaOrthogonal
from kerasopt.initializers.gain import gain, glorot, he, lecun, orthogonal
from kerasopt.initializers.lsuv import lsuv
from kerasopt.initializers.sparse import Sparse

__all__ = [
    "DeltaOrthogonal",
    "PriorBias",
    "Sparse",
    "gain",
    "glorot",
    "he",
    "lecun",
    "lsuv",
    "orthogonal",
    "prior_bias",
]
