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
