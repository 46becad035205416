"""Curriculum and continuation learning: difficulty scores, pacing functions, a growing-pool
sampler (with anti-curriculum and random-order controls), and a continuation callback."""

from kerasopt.curriculum.continuation import Continuation, SmoothedCrossentropy, continuation_value
from kerasopt.curriculum.pacing import (
    PACINGS,
    ExponentialPacing,
    LinearPacing,
    RootPacing,
    StepPacing,
    get_pacing,
)
from kerasopt.curriculum.sampler import ORDERS, CurriculumPyDataset, CurriculumSampler
from kerasopt.curriculum.scores import callable_scores, confidence_scores, loss_scores

__all__ = [
    "ORDERS",
    "PACINGS",
    "Continuation",
    "CurriculumPyDataset",
    "CurriculumSampler",
    "ExponentialPacing",
    "LinearPacing",
    "RootPacing",
    "SmoothedCrossentropy",
    "StepPacing",
    "callable_scores",
    "confidence_scores",
    "continuation_value",
    "get_pacing",
    "loss_scores",
]
