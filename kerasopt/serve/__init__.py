"""Serve a model over HTTP with TF Serving's REST API: `kerasopt serve MODEL`.

- `ModelRepository`: the served model and its versions (a run folder, an export, or a TF
  Serving version tree whose new versions are picked up while serving).
- `Batcher`: dynamic batching with a bounded queue (`QueueFull` -> 503).
- `parse_request`, `InputError`: a predict request's body -> one batch of images, with limits.
- `Metrics`: request counts, latency and batch-size histograms in Prometheus' text format.
- `create_app`: the aiohttp application.

Needs aiohttp: `pip install kerasopt[serve]`.

The runtime is the fastest of those available for the model, measured at load time
(`kerasopt.serve.runtime`): ONNX Runtime or LiteRT for a Keras run folder.
"""

from kerasopt.serve.app import create_app
from kerasopt.serve.batching import Batcher, QueueFull
from kerasopt.serve.images import InputError, parse_request
from kerasopt.serve.metrics import Metrics
from kerasopt.serve.repository import ModelRepository

__all__ = [
    "Batcher",
    "InputError",
    "Metrics",
    "ModelRepository",
    "QueueFull",
    "create_app",
    "parse_request",
]
