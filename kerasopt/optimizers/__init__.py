"""Optimizers Keras lacks: delta-bar-delta, RMSProp with Nesterov momentum, and wrappers
around any Keras optimizer (iterate averaging, lookahead, block coordinate descent)."""

from kerasopt.optimizers.averaging import Averaged
from kerasopt.optimizers.batchnorm import recompute_batchnorm
from kerasopt.optimizers.block_coordinate import BlockCoordinate
from kerasopt.optimizers.delta_bar_delta import DeltaBarDelta
from kerasopt.optimizers.lookahead import Lookahead
from kerasopt.optimizers.rmsprop_nesterov import RMSpropNesterov

__all__ = [
    "Averaged",
    "BlockCoordinate",
    "DeltaBarDelta",
    "Lookahead",
    "RMSpropNesterov",
    "recompute_batchnorm",
]
