"""Keras callbacks: LR range test, snapshot ensembles, averaged-weight swapping, curvature monitoring."""

from kerasopt.callbacks.averaging import SwapAveragedWeights

__all__ = ["SwapAveragedWeights"]
