"""Keras callbacks: LR range test, snapshot ensembles, averaged-weight swapping, curvature monitoring."""

from kerasopt.callbacks.averaging import SwapAveragedWeights
from kerasopt.callbacks.curvature import CurvatureMonitor
from kerasopt.callbacks.lr_finder import LRFinder
from kerasopt.callbacks.momentum_cycle import MomentumCycle
from kerasopt.callbacks.snapshot import SnapshotEnsemble

__all__ = [
    "CurvatureMonitor",
    "LRFinder",
    "MomentumCycle",
    "SnapshotEnsemble",
    "SwapAveragedWeights",
]
