"""Fine-tuning MobileNetV2 on a GPU with Keras 3 on JAX: images/s per phase and precision, and
the main job's accuracy and time.

The GPU machines lent to this project have JAX with CUDA but no TensorFlow, so kerasopt runs
there as Keras 3 on the JAX backend, with XLA always on (`jit_compile=True`). Everything runs
through kerasopt's own objects: `transfer.backbone` (MobileNetV2, ImageNet weights from a
Keras cache), `transfer.freeze` / `unfreeze_fraction`, `transfer.build_classifier`, and the
backend-neutral pipeline `transfer.image_sequences` (Pillow + `keras.utils.PyDataset`).

Measured, in order of priority (a wall-clock budget skips what no longer fits, and the results
files are rewritten after every step, so a run cut short still leaves its figures):
  1. throughput, per precision policy (mixed_bfloat16, float32, then mixed_float16): images/s
     of `fit` for phase 1 (head on the frozen backbone) and for a full fine-tune (every
     backbone layer but BatchNormalization trainable), batch 64, 50 steps per epoch, on
     preloaded batches of the training images (the host pipeline off the clock); the first
     epoch (XLA compilation) is timed apart; median of the later epochs;
  2. the main job: the recipe's plan for ants vs bees ("similar, small": head, then the top
     10% of the backbone), trained on train/ through the Pillow pipeline (augmented, 4 worker
     threads) and evaluated once on val/: accuracy and time per phase;
  3. the host pipeline alone: images/s decoding (first pass) and from its cache.

Data: `--data` (default `.gpu_carry/hymenoptera224`, ants vs bees re-encoded at 224 px by
`benchmarks/_gpu_carry.py`), else a synthetic two-class image folder. Weights: `--weights
imagenet` reads `$KERAS_HOME/models` (the carry folder holds the one file needed).

Run on the GPU machine (see docs/guides/gpu.md; `benchmarks/_gpu_carry.py` prints the command):
    python -m benchmarks.gpu_finetune --out $OUT
Tiny CPU check: KERAS_BACKEND=jax python -m benchmarks.gpu_finetune --quick --out /tmp/gpu
Writes gpu_finetune.json and gpu_finetune.md.
"""

import argparse
import importlib
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

NEEDS_DEVICE = "GPU"  # `python -m benchmarks` skips this module (read from the source)

DEFAULT_DATA = Path(".gpu_carry") / "hymenoptera224"
POLICIES = ("mixed_bfloat16", "float32", "mixed_float16")
BACKBONE = "mobilenet_v2"


def _import_kerasopt():
    """Import the kerasopt modules used here; return how ("package" or "submodules").

    Where `import kerasopt` still loads TensorFlow somewhere (issue 21 removes that) and
    TensorFlow is absent, as on the GPU machines, the backend-neutral submodules used here are
    loaded without running the packages' `__init__` files. The results record which way ran.
    """
    try:
        import kerasopt.transfer  # noqa: F401

        return "package"
    except ImportError as error:
        if "tensorflow" not in f"{getattr(error, 'name', '')} {error}".lower():
            raise
    for name in [name for name in sys.modules if name.split(".")[0] == "kerasopt"]:
        del sys.modules[name]
    spec = importlib.util.find_spec("kerasopt")
    root = Path(next(iter(spec.submodule_search_locations)))
    for name, folder in (("kerasopt", root), ("kerasopt.transfer", root / "transfer")):
        package = types.ModuleType(name)
        package.__path__ = [str(folder)]
        sys.modules[name] = package
    return "submodules (import kerasopt needs TensorFlow here)"


def _modules():
    names = ("backbones", "classifier", "freezing", "image_folder_sequence", "strategy")
    return types.SimpleNamespace(
        **{name: importlib.import_module(f"kerasopt.transfer.{name}") for name in names}
    )


def _device():
    """The accelerator JAX uses, and nvidia-smi's description of it where there is one."""
    import jax

    devices = jax.devices()
    found = {
        "jax_platform": devices[0].platform,
        "jax_device_kind": devices[0].device_kind,
        "jax_device_count": len(devices),
        "jax": jax.__version__,
    }
    try:
        query = "--query-gpu=name,driver_version,memory.total"
        out = subprocess.run(
            ["nvidia-smi", query, "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        found["nvidia_smi"] = out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        found["nvidia_smi"] = None
    return found


def _synthetic_folder(root, per_class, size, seed=0):
    """A train/ and val/ folder of two classes of noisy JPEGs (dark vs bright), `per_class`
    training and `per_class // 2` validation images each."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, count in (("train", per_class), ("val", max(2, per_class // 2))):
        for label, name in enumerate(("dark", "bright")):
            folder = Path(root) / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                base = 70 + 110 * label
                pixels = np.clip(rng.normal(base, 40, (size, size, 3)), 0, 255).astype("uint8")
                Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)
    return Path(root)


class _Budget:
    """Wall-clock guard: whether a step estimated at `seconds` still fits."""

    def __init__(self, seconds):
        self.seconds, self.start = seconds, time.perf_counter()

    def elapsed(self):
        return time.perf_counter() - self.start

    def fits(self, seconds):
        return self.elapsed() + seconds <= self.seconds


def _epoch_timer():
    import keras

    class EpochTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self._start)

    return EpochTimes()


def _repeat(batches, steps):
    """A PyDataset of `steps` batches cycling through the preloaded `batches`."""
    import keras

    class Repeat(keras.utils.PyDataset):
        def __len__(self):
            return steps

        def __getitem__(self, index):
            return batches[index % len(batches)]

    return Repeat()


def _classifier(mods, policy, weights, size, n_classes, name=BACKBONE):
    import keras

    keras.config.set_dtype_policy(policy)
    alpha = 0.25 if name == "mobilenet" else None  # the small test configuration
    base = mods.backbones.backbone(name, weights=weights, input_shape=(size, size, 3), alpha=alpha)
    mods.freezing.freeze(base)
    preprocessing = mods.backbones.get_spec(name).preprocessing
    return mods.classifier.build_classifier(base, n_classes, preprocessing=preprocessing), base


def _compile(model, learning_rate):
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=True,
    )


def _timed_fit(model, data, epochs, images_per_epoch):
    timer = _epoch_timer()
    model.fit(data, epochs=epochs, verbose=0, callbacks=[timer])
    steady = timer.times[1:] or timer.times
    return {
        "first_epoch_s": round(timer.times[0], 3),
        "epoch_s": [round(t, 4) for t in timer.times],
        "images_per_second": round(images_per_epoch / statistics.median(steady), 1),
        "compile_s_estimate": round(timer.times[0] - statistics.median(steady), 2),
    }


def _throughput(mods, policy, weights, batches, steps, epochs, name):
    """Phase 1 and full fine-tune images/s under `policy` (fresh model)."""
    size, n_classes = batches[0][0].shape[1], 2
    model, base = _classifier(mods, policy, weights, size, n_classes, name)
    images = steps * batches[0][0].shape[0]
    _compile(model, 1e-3)
    head = _timed_fit(model, _repeat(batches, steps), epochs, images)
    mods.freezing.unfreeze_fraction(base, 1.0)
    _compile(model, 1e-4)
    finetune = _timed_fit(model, _repeat(batches, steps), epochs, images)
    finetune["trainable_weights"] = len(model.trainable_weights)
    return {"head": head, "finetune": finetune}


def _main_job(mods, data, policy, weights, workers, batch_size, name, quick=None):
    """The recipe's plan for the data (similar, small): head, then the top of the backbone;
    trained on train/, evaluated once on val/. `quick`: plan overrides (fewer epochs)."""
    import keras

    plan = mods.strategy.choose_strategy("similar", data.n_train, **(quick or {}))
    seq = mods.image_folder_sequence
    train = seq.ImageFolderSequence(
        data.train.paths,
        data.train.labels,
        image_size=data.image_size,
        batch_size=batch_size,
        drop_remainder=True,  # one batch shape: one compilation per phase
        shuffle=True,
        augment=data.train.augment,
        workers=workers,
    )
    model, base = _classifier(
        mods, policy, weights, data.image_size[0], len(data.class_names), name
    )
    start = time.perf_counter()
    _compile(model, plan.head_learning_rate)
    images = len(train) * batch_size
    phases = {"head": _timed_fit(model, train, plan.epochs_head, images)}
    unfrozen = mods.freezing.unfreeze_fraction(base, plan.unfreeze_fraction)
    _compile(model, plan.finetune_learning_rate)
    phases["finetune"] = _timed_fit(model, train, plan.epochs_finetune, images)
    phases["finetune"]["layers_unfrozen"] = len(unfrozen)
    loss, accuracy = model.evaluate(data.val, verbose=0)
    keras.config.set_dtype_policy("float32")
    return {
        "policy": policy,
        "plan": {
            "name": plan.name,
            "unfreeze_fraction": plan.unfreeze_fraction,
            "epochs_head": plan.epochs_head,
            "epochs_finetune": plan.epochs_finetune,
            "head_learning_rate": plan.head_learning_rate,
            "finetune_learning_rate": plan.finetune_learning_rate,
        },
        "batch_size": batch_size,
        "n_train": data.n_train,
        "n_val": data.n_val,
        "val_accuracy": round(float(accuracy), 4),
        "val_loss": round(float(loss), 4),
        "time_s": round(time.perf_counter() - start, 2),
        "phases": phases,
    }


def _pipeline_rate(mods, data, batch_size, workers):
    """Host pipeline alone: images/s of a first pass (decode + resize) and of a cached pass."""
    seq = mods.image_folder_sequence.ImageFolderSequence(
        data.train.paths, data.train.labels, image_size=data.image_size, batch_size=batch_size
    )
    from concurrent.futures import ThreadPoolExecutor

    rates = {}
    for name in ("decode", "cached"):
        start = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            count = sum(len(y) for _, y in pool.map(seq.__getitem__, range(len(seq))))
        rates[name] = round(count / (time.perf_counter() - start), 1)
    return {"workers": workers, "images_per_second": rates}


def _preload(mods, data, batch_size, count):
    """`count` batches of training images (no augmentation) for the throughput runs."""
    import numpy as np

    seq = mods.image_folder_sequence.ImageFolderSequence(
        data.train.paths, data.train.labels, image_size=data.image_size, batch_size=batch_size
    )
    batches = []
    for index in range(count):
        members = [(index * batch_size + i) % len(seq.paths) for i in range(batch_size)]
        images = np.stack([seq._image(i) for i in members]).astype("float32")
        batches.append((images, seq.labels[members]))
    return batches


def _write(out, result, command):
    from kerasopt._io import write_json, write_text

    write_json(out / "gpu_finetune.json", {**result, "headline": _headline(result)})
    write_text(out / "gpu_finetune.md", _markdown(result, command))


def _headline(result):
    """The figures `python -m benchmarks` puts in its summary: images/s per phase and policy."""
    figures = {"device": result["device"].get("jax_device_kind")}
    for policy, runs in result["throughput"].items():
        for phase in ("head", "finetune"):
            if "images_per_second" in runs.get(phase, {}):
                figures[f"{policy} {phase} images/s"] = runs[phase]["images_per_second"]
    if "val_accuracy" in (result.get("main_job") or {}):
        figures["main job val accuracy"] = result["main_job"]["val_accuracy"]
        figures["main job s"] = result["main_job"]["time_s"]
    return figures


def _markdown(result, command):
    dev, machine = result["device"], result["machine"]
    lines = [
        "# Fine-tuning on a GPU with Keras 3 on JAX (XLA on)",
        "",
        f"Device: {dev.get('nvidia_smi') or dev['jax_device_kind']} "
        f"(JAX {dev['jax']}, platform {dev['jax_platform']}); host {machine['cpu']}, "
        f"{machine['cores']} cores; Keras {machine['keras']} on {machine['keras_backend']}, "
        f"Python {machine['python']}. kerasopt imported as: {result['kerasopt_import']}.",
        f"Data: {result['data']}; backbone {BACKBONE} at {result['settings']['image_size']} px, "
        f"weights {result['settings']['weights']}.",
        "",
        f"## Throughput (images/s of `fit`, batch {result['settings']['batch_size']}, "
        f"{result['settings']['steps']} steps per epoch, median of the epochs after the first)",
        "",
        "| policy | phase 1: head | full fine-tune | first epoch (compile) head / fine-tune, s |",
        "|---|---|---|---|",
    ]
    for policy, runs in result["throughput"].items():
        if "head" not in runs:
            why = runs.get("skipped") or f"error: {runs.get('error')}"
            lines.append(f"| {policy} | {why} | | |")
            continue
        head, fine = runs["head"], runs["finetune"]
        lines.append(
            f"| {policy} | {head['images_per_second']:.0f} | {fine['images_per_second']:.0f} | "
            f"{head['first_epoch_s']:.1f} / {fine['first_epoch_s']:.1f} |"
        )
    job = result.get("main_job")
    lines += ["", "## Main job (train/ -> val/, through the Pillow pipeline, augmented)", ""]
    if job is None or "phases" not in job:
        job = job or {}
        lines.append(f"Not measured: {job.get('skipped') or job.get('error') or 'not run'}.")
    else:
        plan = job["plan"]
        lines += [
            f"Plan {plan['name']!r}: head {plan['epochs_head']} epochs at "
            f"{plan['head_learning_rate']:g}, then the top {plan['unfreeze_fraction']:.0%} of "
            f"the backbone {plan['epochs_finetune']} epochs at {plan['finetune_learning_rate']:g}; "
            f"policy {job['policy']}, batch {job['batch_size']}.",
            "",
            "| val accuracy | val loss | time, s | head images/s | fine-tune images/s |",
            "|---|---|---|---|---|",
            f"| {job['val_accuracy']:.3f} | {job['val_loss']:.3f} | {job['time_s']:.1f} | "
            f"{job['phases']['head']['images_per_second']:.0f} | "
            f"{job['phases']['finetune']['images_per_second']:.0f} |",
        ]
    pipe = result.get("pipeline")
    if pipe and "images_per_second" in pipe:
        rates = pipe["images_per_second"]
        lines += [
            "",
            f"Host pipeline alone ({pipe['workers']} threads): {rates['decode']:.0f} images/s "
            f"decoding, {rates['cached']:.0f} images/s from its cache.",
        ]
    lines += [
        "",
        f"Wall time {result['wall_s']:.0f} s of a {result['settings']['budget_s']} s budget"
        + (f"; skipped: {', '.join(result['skipped'])}" if result["skipped"] else "")
        + (f"; errors: {'; '.join(result['errors'])}" if result["errors"] else "")
        + ".",
        "",
        f"Command: `{command}`",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny CPU check: 64 px, few steps")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--data", default=None, help=f"default: {DEFAULT_DATA} if present")
    parser.add_argument("--synthetic", action="store_true", help="ignore --data: generated images")
    parser.add_argument("--weights", choices=("imagenet", "none"), default=None)
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--main-policy", default=None, help="default: mixed_bfloat16 on a GPU")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="steps per throughput epoch")
    parser.add_argument("--epochs", type=int, default=3, help="throughput epochs (first: compile)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--budget", type=float, default=None, help="wall-clock seconds")
    parser.add_argument(
        "--backbone",
        choices=(BACKBONE, "mobilenet"),
        default=BACKBONE,
        help="mobilenet: MobileNet alpha 0.25, the small configuration of the tests",
    )
    args = parser.parse_args(argv)
    size = args.image_size or (64 if args.quick else 224)
    batch = args.batch_size or (8 if args.quick else 64)
    steps = args.steps or (2 if args.quick else 50)
    budget = _Budget(args.budget if args.budget is not None else (240 if args.quick else 300))
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    for policy in policies:
        if policy not in POLICIES:
            parser.error(f"--policies: {policy!r} is not one of {', '.join(POLICIES)}")

    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    mode = _import_kerasopt()
    mods = _modules()
    from benchmarks._machine import describe

    device = _device()
    gpu = device["jax_platform"] == "gpu"
    main_policy = args.main_policy or ("mixed_bfloat16" if gpu else "float32")
    weights = args.weights or ("none" if args.quick else "imagenet")
    weights = None if weights == "none" else weights
    data_dir = None if args.synthetic else Path(args.data or DEFAULT_DATA)
    scratch = None
    if data_dir is None or not data_dir.is_dir():
        scratch = tempfile.TemporaryDirectory()
        per_class = 24 if args.quick else 128
        data_dir = _synthetic_folder(scratch.name, per_class, size)
        label = f"synthetic (2 classes, {per_class} train + {per_class // 2} val images each)"
    else:
        label = str(data_dir)
    data = mods.image_folder_sequence.image_sequences(
        data_dir, image_size=size, batch_size=32 if not args.quick else batch, workers=args.workers
    )
    given = list(argv if argv is not None else sys.argv[1:])
    if "--out" in given[:-1]:
        given[given.index("--out") + 1] = "$OUT"
    command = " ".join(["python -m benchmarks.gpu_finetune", *given])
    out = Path(args.out)
    result = {
        "machine": describe(),
        "device": device,
        "kerasopt_import": mode,
        "data": f"{label}: {data.n_train} train, {data.n_val} val images, classes {data.class_names}",
        "settings": {
            "quick": args.quick,
            "backbone": args.backbone,
            "image_size": size,
            "batch_size": batch,
            "steps": steps,
            "epochs": args.epochs,
            "weights": weights,
            "policies": policies,
            "main_policy": main_policy,
            "jit_compile": True,
            "budget_s": budget.seconds,
        },
        "throughput": {},
        "main_job": None,
        "pipeline": None,
        "skipped": [],
        "errors": [],
        "wall_s": 0.0,
    }
    print(f"device: {device}; kerasopt: {mode}; data: {result['data']}", flush=True)

    def save():
        result["wall_s"] = round(budget.elapsed(), 1)
        _write(out, result, command)

    batches = _preload(mods, data, batch, min(steps, 8))
    main_batch = batch if args.quick else 32
    quick_plan = {"epochs_head": 2, "epochs_finetune": 2} if args.quick else None

    def attempt(step, seconds, run):
        """Run one step if it fits the budget (`seconds` None: always); record its result, or
        why it did not run."""
        if seconds is not None and not budget.fits(seconds):
            result["skipped"].append(step)
            return {"skipped": "wall-clock budget"}
        started = time.perf_counter()
        try:
            found = run()
        except Exception as error:  # one failing step must not lose the others' figures
            result["errors"].append(f"{step}: {type(error).__name__}: {str(error)[:300]}")
            found = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
        keras.config.set_dtype_policy("float32")
        print(f"{step} ({time.perf_counter() - started:.0f} s): {found}", flush=True)
        return found

    def main_job():
        return _main_job(
            mods, data, main_policy, weights, args.workers, main_batch, args.backbone, quick_plan
        )

    estimate = 60.0  # seconds a throughput step is assumed to need (two compilations) until timed
    for index, policy in enumerate(policies):
        if index == 1:  # the main job right after the first policy's throughput
            result["main_job"] = attempt(
                "main job",
                estimate,
                main_job,
            )
            save()
        started = time.perf_counter()
        result["throughput"][policy] = attempt(
            f"throughput {policy}",
            estimate,
            lambda policy=policy: _throughput(
                mods, policy, weights, batches, steps, args.epochs, args.backbone
            ),
        )
        if "head" in result["throughput"][policy]:
            estimate = max(estimate, time.perf_counter() - started)
        save()
    if result["main_job"] is None:
        result["main_job"] = attempt(
            "main job",
            estimate,
            main_job,
        )
    result["pipeline"] = attempt(
        "host pipeline", None, lambda: _pipeline_rate(mods, data, 32, args.workers)
    )
    save()
    print((out / "gpu_finetune.md").read_text(), flush=True)
    if scratch is not None:
        scratch.cleanup()
    return result


if __name__ == "__main__":
    main()
