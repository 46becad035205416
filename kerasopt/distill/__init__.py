"""Teacher -> student training: Hinton distillation (`Distiller`) and FitNets hints (`HintTrainer`)."""

from kerasopt.distill.distiller import Distiller
from kerasopt.distill.hints import HintTrainer, hint_loss, hint_regressor
from kerasopt.distill.losses import (
    distillation_loss,
    distillation_terms,
    tempered_log_probabilities,
)

__all__ = [
    "Distiller",
    "HintTrainer",
    "distillation_loss",
    "distillation_terms",
    "hint_loss",
    "hint_regressor",
    "tempered_log_probabilities",
]
