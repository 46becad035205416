"""Learning-rate schedules Keras lacks, as `keras.optimizers.schedules.LearningRateSchedule` subclasses."""

from kerasopt.schedules.cyclic import CyclicLR
from kerasopt.schedules.linear import LinearDecay
from kerasopt.schedules.one_cycle import OneCycle
from kerasopt.schedules.step import StepDecay
from kerasopt.schedules.warmup import Warmup

__all__ = ["CyclicLR", "LinearDecay", "OneCycle", "StepDecay", "Warmup"]
