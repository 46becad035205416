"""kerasopt: the techniques of a deep-learning optimization course as Keras 3 objects.

Every public object registers with `keras.saving.register_keras_serializable(package="kerasopt")`,
so `import kerasopt` is all a model that uses them needs to load.
"""

from kerasopt import (
    callbacks,
    curriculum,
    diagnostics,
    distill,
    distributed,
    ensembles,
    export,
    initializers,
    layers,
    optimizers,
    plotting,
    pretraining,
    schedules,
    second_order,
    transfer,
)
from kerasopt._version import __version__
from kerasopt.saving import load_model

__all__ = [
    "__version__",
    "callbacks",
    "curriculum",
    "diagnostics",
    "distill",
    "distributed",
    "ensembles",
    "export",
    "initializers",
    "layers",
    "load_model",
    "optimizers",
    "plotting",
    "pretraining",
    "schedules",
    "second_order",
    "transfer",
]
