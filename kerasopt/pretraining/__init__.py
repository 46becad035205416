"""RBMs, DBN greedy layer-wise pretraining and greedy supervised / autoencoder pretraining.

- `BernoulliRBM`, `GaussianBernoulliRBM` (base `RBM`): `keras.Model`s trained by CD-k / PCD.
- `DBN`: greedy stack of RBMs -> `to_classifier` / `to_autoencoder`.
- `greedy_supervised`, `stacked_autoencoder`: Bengio et al. (2007), Vincent et al. (2008).
"""

from kerasopt.pretraining.dbn import DBN
from kerasopt.pretraining.greedy import greedy_supervised, stacked_autoencoder
from kerasopt.pretraining.rbm import RBM, BernoulliRBM, GaussianBernoulliRBM

__all__ = [
    "RBM",
    "BernoulliRBM",
    "GaussianBernoulliRBM",
    "DBN",
    "greedy_supervised",
    "stacked_autoencoder",
]
