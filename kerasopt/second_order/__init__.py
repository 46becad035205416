"""Full-batch second-order training (Newton, conjugate gradients, BFGS, L-BFGS) with a strong-Wolfe line search. TensorFlow and JAX backends.

Optimizers for `model.compile` (trained by `fit`, not `model.fit`): `LBFGS`, `BFGS`,
`ConjugateGradient`, `Newton`, `SaddleFreeNewton`. Plain functions: `minimize`.
Importing works on every backend; using these objects needs KERAS_BACKEND=tensorflow or jax.
Each method's state is a typed NamedTuple (`SolverState` around `LBFGSState`, `BFGSState`,
`CGState`, `NewtonState`); the line search carries a `LineSearchState`.
"""

from kerasopt.second_order._core import OptimizeResult, SecondOrderOptimizer
from kerasopt.second_order.bfgs import BFGS
from kerasopt.second_order.cg import ConjugateGradient
from kerasopt.second_order.fit import fit
from kerasopt.second_order.lbfgs import LBFGS
from kerasopt.second_order.line_search import strong_wolfe
from kerasopt.second_order.minimize import minimize
from kerasopt.second_order.newton import Newton
from kerasopt.second_order.saddle_free import SaddleFreeNewton

__all__ = [
    "BFGS",
    "ConjugateGradient",
    "LBFGS",
    "Newton",
    "OptimizeResult",
    "SaddleFreeNewton",
    "SecondOrderOptimizer",
    "fit",
    "minimize",
    "strong_wolfe",
]
