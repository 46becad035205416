"""The fastest runtime for one model, measured: which of its exports answers a batch soonest.

A model folder may hold the same network in several formats (a run folder's `model.keras`, a
SavedModel, an `.onnx` and a `.tflite` file). `candidates` lists the ones present; a Keras model
with the `export` extra installed also gets ONNX Runtime and LiteRT exports (written to a
folder the caller owns), since `benchmarks/results/serving.md` measured both ahead of
TensorFlow. `fastest` loads each candidate with `kerasopt.export.load_predictor` and times
it on blank images at each batch size the server runs (1, 2, 4, ..., the maximum; fastest of
a few calls after a warm-up); the one with the least seconds per image serves, and the times
are reported so the choice can be checked.

A batch runs as the cheapest calls at those sizes (`plan_batches`, `PaddedPredictor`). On a
CPU a large batch can cost more per image than a small one (LiteRT's MobileNetV2 on 2 cores:
batch 32's activations outgrow the cache), and the plan then runs it as small calls.
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


def fastest(found, max_batch_size, threads=None, repeats=3):
    """The runtime of `found` that runs an image soonest, ready to serve.

    Each candidate is loaded with `kerasopt.export.load_predictor` and timed at every allowed
    batch size (`time_sizes`; a LiteRT model gets one interpreter per size, see
    `PaddedPredictor`); the one with the least seconds per image at its best size serves, as a
    `PaddedPredictor` planned on its own times.

    Args:
        found: {runtime: path}, from `candidates`.
        max_batch_size: the largest batch the server makes.
        threads: CPU threads of ONNX Runtime or LiteRT (None: their default).
        repeats: timed rounds per size.

    Returns:
        (runtime, PaddedPredictor, {runtime: seconds per image at its best batch size}).
    """
    sizes, loaded, seconds = allowed_sizes(max_batch_size), {}, {}
    for kind, path in found.items():
        predictor = load_predictor(path, threads=threads)
        copies = None
        if kind == "litert":  # an interpreter re-plans its memory on each new input shape

            def copies(path=path):
                return load_predictor(path, threads=threads)

        loaded[kind] = predictor, copies
        instances = _instances(predictor, sizes, copies)
        seconds[kind] = time_sizes(instances, predictor.image_size, repeats)
        del instances
    per_image = {kind: min(s / n for n, s in times.items()) for kind, times in seconds.items()}
    best = min(per_image, key=per_image.get)
    predictor, copies = loaded[best]
    return best, PaddedPredictor(predictor, max_batch_size, copies, seconds[best]), per_image


def allowed_sizes(max_batch_size):
    """The batch sizes a model is run at: powers of two below `max_batch_size`, and it."""
    sizes, size = [], 1
    while size < max_batch_size:
        sizes.append(size)
        size *= 2
    return sizes + [max_batch_size]


def time_sizes(instances, image_size, repeats=3):
    """{size: seconds per call} of `instances` ({batch size: predictor}) on blank images.

    Each instance is called once first (warm-up), then the sizes take turns for `repeats`
    rounds and each keeps its fastest call: interleaving spreads a busy machine's slow spells
    over every size instead of the one being timed, and the fastest call is the least disturbed.
    """
    height, width = image_size or (224, 224)
    blank = {size: np.zeros((size, height, width, 3), "float32") for size in instances}
    for size, predictor in instances.items():
        predictor(blank[size])
    best = dict.fromkeys(instances, float("inf"))
    for _ in range(repeats):
        for size, predictor in instances.items():
            start = time.perf_counter()
            predictor(blank[size])
            best[size] = min(best[size], time.perf_counter() - start)
    return best


def plan_batches(seconds, max_batch_size):
    """{n: chunk sizes} for n = 1..max_batch_size: the cheapest calls that run n images.

    Dynamic programming over the measured cost of one call at each allowed size (`seconds`,
    {size: seconds}): cost(0) = 0, cost(n) = min over sizes s of seconds[s] + cost(max(n - s, 0)).
    The last chunk may be larger than the images left: it is padded. Ties go to the larger
    size. When a large batch costs more per image than small ones (a runtime whose working set
    outgrows the cache), n images run as several small calls, so a batch is never slower per
    image than the best measured size.

    Example:
        >>> from kerasopt.serve.runtime import plan_batches
        >>> plan = plan_batches({1: 1.0, 2: 1.5, 4: 4.0}, 4)
        >>> plan[1], plan[3], plan[4]
        ([1], [2, 1], [2, 2])
    """
    sizes = sorted(seconds, reverse=True)
    cost, chunks = [0.0], [[]]
    for n in range(1, max_batch_size + 1):
        best = min(sizes, key=lambda s: seconds[s] + cost[max(n - s, 0)])
        cost.append(seconds[best] + cost[max(n - best, 0)])
        chunks.append([best, *chunks[max(n - best, 0)]])
    return dict(enumerate(chunks))


def _instances(predictor, sizes, copies):
    """{size: predictor}: `predictor` for the first size, a new copy for each other one (or
    `predictor` for every size without `copies`)."""
    return {
        size: predictor if copies is None or i == 0 else copies() for i, size in enumerate(sizes)
    }


class PaddedPredictor:
    """Run a predictor at a few fixed batch sizes only, as TF Serving's `allowed_batch_sizes`.

    A batch of n images runs as the calls `plan_batches` chooses: the powers of two up to
    `max_batch_size` (and it), a chunk padded with copies of its last image when the plan says
    so (the padding's outputs are dropped); more than `max_batch_size` images are cut into
    chunks of at most that many first. Without `seconds` a call costs one plus a little per
    image (fewest calls, then fewest padded images); with `seconds` ({size: seconds per call},
    measured by `fastest`), the plan follows the measured cost of each size.

    Dynamic batching makes every batch size from 1 to the maximum. A runtime that re-plans its
    memory on a new input shape (LiteRT's `resize_tensor_input` and `allocate_tensors`) would
    pay that on most batches; with `copies`, each size of the plan gets its own copy of the
    model (`copies()` loads one), which never changes shape. Every copy is created and called
    once here, so the memory the predictor will use is taken before it serves: a bounded set
    of sizes, one copy each, never more.

    Example:
        >>> import numpy as np
        >>> from kerasopt.export import Predictor
        >>> from kerasopt.serve.runtime import PaddedPredictor
        >>> seen = []
        >>> inner = Predictor(lambda x: seen.append(len(x)) or x[:, :1, 0, 0], "onnx", None, (1, 1))
        >>> padded = PaddedPredictor(inner, max_batch_size=8)
        >>> seen.clear()
        >>> padded(np.arange(11, dtype="float32").reshape(11, 1, 1, 1)).ravel().tolist(), seen
        ([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], [8, 4])
    """

    def __init__(self, predictor, max_batch_size, copies=None, seconds=None):
        self.sizes = allowed_sizes(max_batch_size)
        self.format, self.class_names = predictor.format, predictor.class_names
        self.image_size = predictor.image_size
        self.seconds = seconds
        unit = {size: 1.0 + size / (4.0 * max_batch_size) for size in self.sizes}
        self.plan = plan_batches(seconds or unit, max_batch_size)
        used = sorted({size for chunks in self.plan.values() for size in chunks})
        self.instances = _instances(predictor, used, copies)
        if self.image_size is not None:  # warm every size: its memory is taken now
            time_sizes(self.instances, self.image_size, repeats=0)

    def __call__(self, images):
        images = np.asarray(images, "float32")
        outputs, top = [], self.sizes[-1]
        for start in range(0, len(images), top):
            chunk = images[start : start + top]
            done = 0
            for size in self.plan[len(chunk)]:
                part = chunk[done : done + size]
                pad = np.repeat(part[-1:], size - len(part), axis=0)
                outputs.append(self.instances[size](np.concatenate([part, pad]))[: len(part)])
                done += len(part)
        return np.concatenate(outputs)
