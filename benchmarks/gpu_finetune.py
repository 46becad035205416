"""Fine-tuning MobileNetV2 on a GPU: Keras 3 on JAX (kerasopt) against PyTorch + torchvision on the
same card in one run, and the main job through the recipe's own code path.

The GPU machines lent to this project have JAX with CUDA (and PyTorch) but no TensorFlow, so
kerasopt runs there as Keras 3 on the JAX backend, XLA always on, through `import kerasopt`.
Measured, in order (a wall-clock budget skips what no longer fits; the results files are
rewritten after every step, so a run cut short still leaves its figures):
  1. compute alone, Keras: images/s of `fit` for the head phase (frozen backbone) and the full
     fine-tune, per precision candidate of the card (`transfer.device.precision_candidates`:
     bfloat16 where supported, float16), on preloaded uint8 batches with the augmentation inside
     the compiled step (`transfer.in_step.augment_in_step`); the precision is then chosen by
     these measurements (`transfer.device.choose_precision`); first epoch (compilation) apart;
  2. compute alone, PyTorch (`benchmarks/_torch_finetune.py`): torchvision's mobilenet_v2 on the
     same uint8 batches, same augmentation, same precision (AMP), channels-last, `torch.compile`
     when present; skipped with the reason when torch or torchvision is missing;
  3. the main job: `python -m recipes.finetune` (what `make run` runs: its plan, splits and test
     report) on ants vs bees in a fresh process, twice: cold (empty compilation cache) and warm
     (`transfer.device.enable_compilation_cache`), each from command start to the written run
     folder;
  4. the host pipeline alone: images/s of `image_sequences(..., in_step=True)` decoding (first
     pass) and from its uint8 cache.
Both sides start from random weights (weights do not change the speed; the main job uses the
ImageNet weights as `make run` does).

Data: `--data` (default `.gpu_carry/hymenoptera224`, ants vs bees re-encoded at 224 px by
`python -m benchmarks._gpu_carry`), else a synthetic two-class image folder.

Run on the GPU machine (docs/guides/gpu.md; `python -m benchmarks._gpu_carry` prints the whole
device command): python -m benchmarks.gpu_finetune --out RESULTS_FOLDER
Tiny CPU check (the default test suite runs it): python -m benchmarks.gpu_finetune --tiny --out /tmp/gpu
Writes gpu_finetune.json and gpu_finetune.md (and the main job's run folders) in --out.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NEEDS_DEVICE = "GPU"  # `python -m benchmarks` skips this module (read from the source)

DEFAULT_DATA = Path(".gpu_carry") / "hymenoptera224"
BACKBONE = "mobilenet_v2"
TINY = {"image_size": 32, "batch_size": 8, "steps": 2, "epochs": 2, "per_class": 24}
RECIPE_TINY = [  # a preset plan and given rates: no probe, no range test; one epoch per phase
    "--backbone", "mobilenet", "--alpha", "0.25", "--weights", "none", "--image-size", "32",
    "--strategy", "top", "--head-lr", "1e-3", "--finetune-lr", "1e-4", "--epochs-head", "1",
    "--epochs-finetune", "1", "--time-budget", "0", "--batch-size", "8",
]  # fmt: skip


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


def _classifier(policy, weights, size, n_classes, name):
    """(uint8 -> in-step augmentation -> classifier model, its backbone) under `policy`."""
    import keras

    from kerasopt.transfer.backbones import backbone, get_spec
    from kerasopt.transfer.classifier import build_classifier
    from kerasopt.transfer.freezing import freeze
    from kerasopt.transfer.in_step import augment_in_step

    keras.config.set_dtype_policy(policy)
    alpha = 0.25 if name == "mobilenet" else None  # the small test configuration
    base = backbone(name, weights=weights, input_shape=(size, size, 3), alpha=alpha)
    freeze(base)
    inner = build_classifier(base, n_classes, preprocessing=get_spec(name).preprocessing)
    return augment_in_step(inner, size, seed=0), base


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


def _throughput(policy, batches, steps, epochs, name):
    """Head phase and full fine-tune images/s under `policy` (fresh model, random weights)."""
    from kerasopt.transfer.freezing import unfreeze_fraction

    size, n_classes = batches[0][0].shape[1], 2
    model, base = _classifier(policy, None, size, n_classes, name)
    images = steps * batches[0][0].shape[0]
    _compile(model, 1e-3)
    head = _timed_fit(model, _repeat(batches, steps), epochs, images)
    unfreeze_fraction(base, 1.0)
    _compile(model, 1e-4)
    finetune = _timed_fit(model, _repeat(batches, steps), epochs, images)
    finetune["trainable_weights"] = len(model.trainable_weights)
    return {"head": head, "finetune": finetune}


def _test_report(metrics):
    """The test figures of a run's metrics.json: every entry whose key names the test split."""
    if isinstance(metrics, dict):
        found = {k: v for k, v in metrics.items() if "test" in str(k).lower()}
        for key, value in metrics.items():
            if key not in found:
                found.update({f"{key}.{k}": v for k, v in _test_report(value).items()})
        return found
    return {}


def _main_job(data_dir, out, cache, extra, timeout):
    """`python -m recipes.finetune` in a fresh process (the compilation cache in `cache`):
    seconds from command start to the written run folder, and its test report."""
    run_dir = out / f"main_job_{cache.name}_{len(list(out.glob('main_job_*')))}"
    code = (
        "from kerasopt.transfer.device import enable_compilation_cache; "
        "enable_compilation_cache(); "
        "from kerasopt.cli.finetune import main; main()"
    )
    command = [sys.executable, "-c", code, "--data", str(data_dir), "--out", str(run_dir)]
    command += ["--overwrite", *extra]
    env = {**os.environ, "KERASOPT_CACHE_DIR": str(cache), "KERAS_BACKEND": "jax"}
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    seconds = round(time.perf_counter() - start, 2)
    if done.returncode != 0:
        raise RuntimeError(f"recipe exit {done.returncode}: {done.stderr.strip()[-400:]}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "command": "python -m recipes.finetune " + " ".join(command[3:]),
        "seconds": seconds,
        "run_folder": run_dir.name,
        "test": _test_report(metrics),
    }


def _pipeline_rate(data_dir, size, batch_size, workers):
    """Host pipeline alone: images/s of the in-step (uint8, padded) training sequence, a first
    pass (decode + resize) and a pass from its cache, `workers` threads."""
    from concurrent.futures import ThreadPoolExecutor

    from kerasopt.transfer.image_folder_sequence import image_sequences

    seq = image_sequences(
        data_dir, image_size=size, batch_size=batch_size, workers=workers, in_step=True
    ).train
    rates = {}
    for name in ("decode", "cached"):
        start = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            count = sum(int(w.sum()) for _, _, w in pool.map(seq.__getitem__, range(len(seq))))
        rates[name] = round(count / (time.perf_counter() - start), 1)
    return {"workers": workers, "images_per_second": rates}


def _preload(data_dir, size, batch_size, count):
    """`count` uint8 batches of training images (augmented in the step) for the compute runs."""
    from kerasopt.transfer.image_folder_sequence import image_sequences

    seq = image_sequences(
        data_dir, image_size=size, batch_size=batch_size, workers=1, in_step=True
    ).train_eval
    return [seq[i % len(seq)][:2] for i in range(count)]


def _write(out, result, command):
    from kerasopt._io import write_json, write_text

    write_json(out / "gpu_finetune.json", {**result, "headline": _headline(result)})
    write_text(out / "gpu_finetune.md", _markdown(result, command))


def _headline(result):
    """The figures `python -m benchmarks` puts in its summary: images/s per side and phase."""
    figures = {"device": result["device"].get("jax_device_kind")}
    for policy, runs in result["keras"].items():
        for phase in ("head", "finetune"):
            if "images_per_second" in runs.get(phase, {}):
                figures[f"keras {policy} {phase} images/s"] = runs[phase]["images_per_second"]
    torch_side = result.get("torch") or {}
    for phase in ("head", "finetune"):
        if "images_per_second" in torch_side.get(phase, {}):
            figures[f"torch {phase} images/s"] = torch_side[phase]["images_per_second"]
    for run, job in (result.get("main_job") or {}).items():
        if "seconds" in job:
            figures[f"main job {run} s"] = job["seconds"]
    return figures


def _rate(runs, phase):
    found = (runs or {}).get(phase, {})
    return f"{found['images_per_second']:.0f}" if "images_per_second" in found else "-"


def _why(runs):
    runs = runs or {}
    return runs.get("skipped") or (f"error: {runs['error']}" if "error" in runs else "not run")


def _markdown(result, command):
    dev, machine = result["device"], result["machine"]
    settings, precision = result["settings"], result.get("precision") or {}
    side = f"Keras on {machine['keras_backend']}"
    lines = [
        "# Fine-tuning MobileNetV2 on one device: Keras 3 (kerasopt) vs PyTorch",
        "",
        f"Device: {dev.get('nvidia_smi') or dev['jax_device_kind']} (JAX {dev['jax']}, platform "
        f"{dev['jax_platform']}); host {machine['cpu']}, {machine['cores']} cores; Keras "
        f"{machine['keras']} on {machine['keras_backend']}; torch: {result['torch_versions']}.",
        f"Data: {result['data']}; {settings['image_size']} px, batch {settings['batch_size']}, "
        f"{settings['steps']} steps per epoch, {settings['epochs']} epochs (the first, with "
        "compilation, apart; median of the others). Random initialisation on both sides; uint8 "
        "batches; flip, rotation (+-18 deg) and zoom (+-10%) inside the compiled step on both.",
        f"Precision: {precision.get('policy', '-')} ({precision.get('reason', 'not chosen')}).",
        "",
        "## Compute alone (images/s, preloaded uint8 batches)",
        "",
        "| side | policy | head phase | full fine-tune | first epoch head / fine-tune, s |",
        "|---|---|---|---|---|",
    ]
    for policy, runs in result["keras"].items():
        if "head" not in runs:
            lines.append(f"| {side} | {policy} | {_why(runs)} | | |")
            continue
        lines.append(
            f"| {side} | {policy} | {_rate(runs, 'head')} | {_rate(runs, 'finetune')} | "
            f"{runs['head']['first_epoch_s']:.1f} / {runs['finetune']['first_epoch_s']:.1f} |"
        )
    torch_side = result.get("torch") or {}
    if "head" in torch_side:
        compiled = "torch.compile" if torch_side["torch_compile"] else "eager"
        lines.append(
            f"| torchvision ({compiled}, channels-last) | {torch_side['policy']} | "
            f"{_rate(torch_side, 'head')} | {_rate(torch_side, 'finetune')} | "
            f"{torch_side['head']['first_epoch_s']:.1f} / "
            f"{torch_side['finetune']['first_epoch_s']:.1f} |"
        )
    else:
        lines.append(f"| torchvision | - | {_why(torch_side)} | | |")
    lines += ["", "## Main job (`python -m recipes.finetune`, as `make run`)", ""]
    lines += ["| run | command start to run folder, s | test report |", "|---|---|---|"]
    for run, job in (result.get("main_job") or {}).items():
        if "seconds" in job:
            lines.append(f"| {run} | {job['seconds']:.1f} | {json.dumps(job['test'])[:300]} |")
        else:
            lines.append(f"| {run} | {_why(job)} | |")
    pipe = result.get("pipeline")
    if pipe and "images_per_second" in pipe:
        rates = pipe["images_per_second"]
        lines += [
            "",
            f"Host pipeline alone ({pipe['workers']} threads, uint8): {rates['decode']:.0f} "
            f"images/s decoding, {rates['cached']:.0f} images/s from its cache.",
        ]
    lines += [
        "",
        f"Wall time {result['wall_s']:.0f} s of a {settings['budget_s']} s budget"
        + (f"; skipped: {', '.join(result['skipped'])}" if result["skipped"] else "")
        + (f"; errors: {'; '.join(result['errors'])}" if result["errors"] else "")
        + ".",
        "",
        f"Command: `{command}`",
    ]
    return "\n".join(lines) + "\n"


def _parser():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tiny", "--quick", action="store_true", help="CPU check: 32 px, few steps"
    )
    parser.add_argument("--out", required=True, help="the results folder")
    parser.add_argument("--data", default=None, help=f"default: {DEFAULT_DATA} if present")
    parser.add_argument("--synthetic", action="store_true", help="ignore --data: generated images")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="steps per throughput epoch")
    parser.add_argument(
        "--epochs", type=int, default=None, help="throughput epochs (first: compile)"
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--budget", type=float, default=None, help="wall-clock seconds")
    parser.add_argument("--main-runs", type=int, default=None, help="main job runs (cold, warm)")
    parser.add_argument("--no-torch-compile", action="store_true", help="torch side eager")
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    tiny = TINY if args.tiny else {"image_size": 224, "batch_size": 64, "steps": 50, "epochs": 3}
    size = args.image_size or tiny["image_size"]
    batch = args.batch_size or tiny["batch_size"]
    steps, epochs = args.steps or tiny["steps"], args.epochs or tiny["epochs"]
    budget = _Budget(args.budget if args.budget is not None else 285)
    name = "mobilenet" if args.tiny else BACKBONE
    main_runs = args.main_runs if args.main_runs is not None else (1 if args.tiny else 2)

    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    from benchmarks import _torch_finetune as torch_side
    from benchmarks._machine import describe
    from kerasopt.transfer import device as device_setup

    device = _device()
    data_dir = None if args.synthetic or args.tiny else Path(args.data or DEFAULT_DATA)
    scratch = tempfile.TemporaryDirectory()
    if data_dir is None or not data_dir.is_dir():
        per_class = TINY["per_class"] if args.tiny else 128
        data_dir = _synthetic_folder(Path(scratch.name) / "data", per_class, size)
        label = f"synthetic (2 classes, {per_class} train + {per_class // 2} val images each)"
    else:
        label = str(data_dir)
    given = list(argv if argv is not None else sys.argv[1:])
    if "--out" in given[:-1]:
        given[given.index("--out") + 1] = "RESULTS"
    command = " ".join(["python -m benchmarks.gpu_finetune", *given])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    missing = torch_side.available()
    result = {
        "machine": describe(),
        "device": device,
        "torch_versions": torch_side.versions() if missing is None else f"skipped: {missing}",
        "data": label,
        "settings": {
            "tiny": args.tiny,
            "backbone": name,
            "image_size": size,
            "batch_size": batch,
            "steps": steps,
            "epochs": epochs,
            "weights": "random initialisation (compute runs)",
            "jit_compile": True,
            "budget_s": budget.seconds,
        },
        "precision": None,
        "keras": {},
        "torch": None,
        "main_job": {},
        "pipeline": None,
        "skipped": [],
        "errors": [],
        "wall_s": 0.0,
    }
    print(f"device: {device}; data: {label}", flush=True)

    def save():
        result["wall_s"] = round(budget.elapsed(), 1)
        _write(out, result, command)

    def attempt(step, seconds, run):
        """Run one step if it fits the budget (`seconds` None: always); its result, or why not.
        The results files are rewritten with what is recorded so far (the caller stores it)."""
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
        save()
        return found

    batches = _preload(data_dir, size, batch, min(steps, 8))
    estimate = 5.0 if args.tiny else 45.0  # seconds per compute step (two compilations)

    def keras_run(policy):
        result["keras"][policy] = attempt(
            f"keras {policy}", estimate, lambda: _throughput(policy, batches, steps, epochs, name)
        )
        return result["keras"][policy]

    def keras_rates(policy):
        runs = keras_run(policy)
        if "head" not in runs:
            raise RuntimeError(f"{policy} not measured: {_why(runs)}")
        return {phase: runs[phase]["images_per_second"] for phase in ("head", "finetune")}

    result["precision"] = attempt(
        "precision", None, lambda: device_setup.choose_precision(keras_rates)
    )
    if "float32" not in result["keras"]:  # the reference the mixed policies are read against
        keras_run("float32")
    policy = (result["precision"] or {}).get("policy", "float32")
    if missing is not None:
        result["torch"] = {"skipped": missing}
    else:
        result["torch"] = attempt(
            "torch",
            estimate,
            lambda: torch_side.throughput(
                batches, policy, steps, epochs, compile_model=not args.no_torch_compile
            ),
        )
    extra = RECIPE_TINY if args.tiny else []
    cache = Path(scratch.name) / "cache"
    for run in ("cold", "warm")[:main_runs]:
        result["main_job"][run] = attempt(
            f"main job ({run})",
            None if args.tiny else 45.0,
            lambda: _main_job(
                data_dir, out, cache, extra, timeout=900 if args.tiny else budget.seconds
            ),
        )
    result["pipeline"] = attempt(
        "host pipeline", None, lambda: _pipeline_rate(data_dir, size, 32, args.workers)
    )
    save()
    print((out / "gpu_finetune.md").read_text(), flush=True)
    scratch.cleanup()
    return result


if __name__ == "__main__":
    main()
