"""Build, load and export snapshot ensembles as one servable Keras model."""

from kerasopt.ensembles.combine import MemberAverage, average_models
from kerasopt.ensembles.members import SnapshotError, load
from kerasopt.ensembles.serving import export

__all__ = ["MemberAverage", "SnapshotError", "average_models", "export", "load"]
