"""The fastest runtime for one model, measured: which of its exports answers a batch soonest.

A model folder may hold the same network in several formats (a run folder's `model.keras`, a
SavedModel, an `.onnx` and a `.tflite` file). `candidates` lists the ones present; a Keras model
with the `export` extra installed also gets ONNX Runtime and LiteRT exports (written to a
folder the caller owns), since `benchmarks/results/serving.md` measured both ahead of
TensorFlow. `fastest` loads each candidate with `kerasopt.export.load_predictor`, times it on
a batch of blank images of the serving batch size (median of a few calls after a warm-up)
and keeps the fastest; the times are reported so the choice can be checked.
"""

import importlib.util
import time
from pathlib import Path

import numpy as np

from kerasopt.export import load_predictor

RUNTIMES = ("keras", "saved_model", "onnx", "litert")


def _has(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def candidates(folder, runtime="auto", scratch=None):
    """{runtime: path} of the exports of one model version.

    Args:
        folder: a version folder or a run folder (model.keras, saved_model.pb, *.onnx,
            *.tflite), or one file (`.keras`, `.onnx`, `.tflite`).
        runtime: "auto" (every format present, plus ONNX and LiteRT exports of a Keras model
            when `scratch` is given and the runtimes are installed) or one of `RUNTIMES`.
        scratch: None, or a folder where a Keras model's ONNX and LiteRT exports may be written.

    Raises:
        ValueError: no model of the requested runtime is there.
    """
    path = Path(folder)
    found = {}
    if path.is_file():
        kind = {".keras": "keras", ".onnx": "onnx", ".tflite": "litert"}.get(path.suffix)
        if kind:
            found[kind] = path
    elif path.is_dir():
        if (path / "model.keras").is_file():
            found["keras"] = path
        if (path / "saved_model.pb").is_file():
            found["saved_model"] = path
        for suffix, kind in ((".onnx", "onnx"), (".tflite", "litert")):
            files = sorted(path.glob(f"*{suffix}"))
            if files:
                found.setdefault(kind, files[0])
    if "keras" in found and scratch is not None and runtime in ("auto", "onnx", "litert"):
        found.update(_exports(found["keras"], Path(scratch), runtime))
    if runtime != "auto":
        found = {runtime: found[runtime]} if runtime in found else {}
    if not found:
        raise ValueError(
            f"No model for runtime {runtime!r} in {str(path)!r}: expected model.keras, "
            "saved_model.pb, an .onnx or a .tflite file"
        )
    return found


def _exports(keras_path, scratch, runtime):
    from kerasopt.export import export_litert, export_onnx, load_run

    model, names = load_run(keras_path)
    out = {}
    if runtime in ("auto", "onnx") and _has("onnxruntime") and _has("tf2onnx"):
        out["onnx"] = export_onnx(model, scratch / "model.onnx", class_names=names)
    if runtime in ("auto", "litert") and _has("ai_edge_litert"):
        out["litert"] = export_litert(model, scratch / "model.tflite", class_names=names)
    return out


def time_predictor(predictor, batch_size, repeats=5):
    """Median seconds of `predictor` on a batch of `batch_size` blank images (after a warm-up)."""
    height, width = predictor.image_size or (224, 224)
    images = np.zeros((batch_size, height, width, 3), "float32")
    predictor(images)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predictor(images)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def fastest(found, batch_size, threads=None):
    """(runtime, predictor, {runtime: seconds per batch}) of the fastest of `found`.

    A single candidate is loaded without timing (its time is None).
    """
    loaded = {kind: load_predictor(path, threads=threads) for kind, path in found.items()}
    if len(loaded) == 1:
        kind = next(iter(loaded))
        return kind, loaded[kind], {kind: None}
    times = {kind: time_predictor(p, batch_size) for kind, p in loaded.items()}
    best = min(times, key=times.get)
    return best, loaded[best], times


def allowed_sizes(max_batch_size):
    """The batch sizes a model is run at: powers of two below `max_batch_size`, and it."""
    sizes, size = [], 1
    while size < max_batch_size:
        sizes.append(size)
        size *= 2
    return sizes + [max_batch_size]


class PaddedPredictor:
    """Run a predictor at a few fixed batch sizes only, as TF Serving's `allowed_batch_sizes`.

    A batch of n images is cut into chunks of at most `max_batch_size`, and each chunk padded
    (with copies of its last image) to the next allowed size; the padding's outputs are
    dropped. Dynamic batching makes every batch size from 1 to the maximum; a runtime that
    re-plans its memory on a new input shape (LiteRT's `resize_tensor_input` and
    `allocate_tensors`) would pay that on most batches. With `copies`, each allowed size gets
    its own copy of the model (`copies()` loads one), which never changes shape.

    Example:
        >>> import numpy as np
        >>> from kerasopt.export import Predictor
        >>> from kerasopt.serve.runtime import PaddedPredictor
        >>> seen = []
        >>> inner = Predictor(lambda x: seen.append(len(x)) or x[:, :1, 0, 0], "onnx", None, (1, 1))
        >>> padded = PaddedPredictor(inner, max_batch_size=8)
        >>> padded(np.arange(11, dtype="float32").reshape(11, 1, 1, 1)).ravel().tolist(), seen
        ([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], [8, 4])
    """

    def __init__(self, predictor, max_batch_size, copies=None):
        self.sizes = allowed_sizes(max_batch_size)
        self.format, self.class_names = predictor.format, predictor.class_names
        self.image_size = predictor.image_size
        self._first, self._copies, self._by_size = predictor, copies, {}

    def _model(self, size):
        if self._copies is None:
            return self._first
        if size not in self._by_size:
            self._by_size[size] = self._first if not self._by_size else self._copies()
        return self._by_size[size]

    def __call__(self, images):
        images = np.asarray(images, "float32")
        outputs, top = [], self.sizes[-1]
        for start in range(0, len(images), top):
            chunk = images[start : start + top]
            size = next(s for s in self.sizes if s >= len(chunk))
            pad = np.repeat(chunk[-1:], size - len(chunk), axis=0)
            outputs.append(self._model(size)(np.concatenate([chunk, pad]))[: len(chunk)])
        return np.concatenate(outputs)
