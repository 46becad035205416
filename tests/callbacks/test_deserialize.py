"""Registered kerasopt callbacks round-trip through Keras' generic (de)serialization."""

import keras
import pytest

from kerasopt.callbacks import CurvatureMonitor, LRFinder, SnapshotEnsemble, SwapAveragedWeights

pytestmark = pytest.mark.portable

CALLBACKS = [
    lambda tmp: LRFinder(min_lr=1e-5, max_lr=0.5, steps=30, smoothing=0.9, stop_factor=3.0),
    lambda tmp: SnapshotEnsemble(str(tmp / "{trial_id}"), n_snapshots=3, max_lr=0.2, min_lr=0.01),
    lambda tmp: SwapAveragedWeights(swap_on_epoch=True),
]


@pytest.mark.parametrize(
    "make", CALLBACKS, ids=["LRFinder", "SnapshotEnsemble", "SwapAveragedWeights"]
)
def test_round_trip(tmp_path, make):
    callback = make(tmp_path)
    config = keras.saving.serialize_keras_object(callback)
    assert config["registered_name"] == f"kerasopt>{type(callback).__name__}"
    clone = keras.saving.deserialize_keras_object(config)
    assert type(clone) is type(callback) and clone is not callback
    assert clone.get_config() == callback.get_config()


def test_curvature_monitor_is_not_registered():
    """Its `data` is arrays, not configuration: it is rebuilt with CurvatureMonitor(data=...)."""
    assert keras.saving.get_registered_object("kerasopt>CurvatureMonitor") is None
    assert CurvatureMonitor.__name__ == "CurvatureMonitor"
