"""The adaptive fine-tuning recipe against a tuned linear probe and today's fixed presets.

Four offline datasets, built from the shared assets into a cache folder outside the repository
(`--cache`, default ~/.cache/kerasopt/finetune_vs_probe; never committed, never into shared/),
each written as train/ val/ test/ class folders so that every method sees the same three
disjoint splits:

- `antsbees`: ants vs bees (hymenoptera_data), 224 px. train/ is the original training folder
  (245); the original val/ (153) is halved per class (seeded) into val/ (76) and test/ (77),
  the split `recipes.finetune` makes by itself (`--test-split 0.5`). Similar to ImageNet, small.
- `antsbees_degraded`: the same files, each downsampled to 32 px and back up to 224 (bicubic):
  blurry, different, small.
- `mnist`: MNIST test-set digits as 3-channel PNGs, `--mnist-train` training images (default
  1,000), 500 validation, 1,000 test (stratified, seeded), at 96 px: different, larger.
- `digits`: scikit-learn's 8x8 digits (listed with the assets, shipped in scikit-learn) as
  3-channel grayscale images, 1,000 / 397 / 400, at 64 px: far from ImageNet (8 px of content).

Methods, each on the same backbone (MobileNetV2, ImageNet weights from the offline cache) at the
same size:

- `default`: `python -m recipes.finetune --data D` (plus `--image-size` for the two small-image
  sets, so that MNIST and digits runs fit this shared machine), in a subprocess, its own
  metrics.json read back;
- `probe`: scikit-learn `LogisticRegression` (lbfgs) on the frozen backbone's pooled features
  (`kerasopt.transfer.features.cache_features`), C chosen by 5-fold cross-validation over
  10^-4 .. 10^2 on train + val (the probe has no other use for the validation images), scored
  once on test;
- `top` and `several`: today's fixed presets (`--strategy top`, the one today's default picks
  for "similar, small"; `--strategy several`, the "different" one) with their fixed rates
  (`--head-lr 1e-3 --finetune-lr 1e-4`), no label smoothing, no class weights, no time budget.
  Phase 1 runs on cached features here as in the new recipe (the presets' epochs and rates are
  today's).

For ants vs bees the benchmark also times phase 1 as it was (`train_head`: the head trained
on augmented images through the frozen backbone, 4 epochs, `top`'s plan) against phase 1 on
cached features (caching + head), both ending in their validation accuracy.

One seed (seed 0) per run: the full run must fit about 40 minutes of a 2-core machine shared
by several people. Wall times are noisy for that reason (the load average is recorded).

    python -m benchmarks.finetune_vs_probe            # the four datasets (~40 min on 2 cores)
    python -m benchmarks.finetune_vs_probe --quick    # ants vs bees at 96 px, probe and default
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from kerasopt.cli._offline import find_assets, use_offline_keras_home

ASSETS = find_assets()
use_offline_keras_home(ASSETS)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks._machine import describe  # noqa: E402
from kerasopt import datasets  # noqa: E402
from kerasopt._io import write_json, write_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path.home() / ".cache" / "kerasopt" / "finetune_vs_probe"
SIZES = {"antsbees": 224, "antsbees_degraded": 224, "mnist": 96, "digits": 64}
KIND = {
    "antsbees": "similar",
    "antsbees_degraded": "different",
    "mnist": "different",
    "digits": "different",
}
PRESET_FLAGS = ["--head-lr", "1e-3", "--finetune-lr", "1e-4", "--label-smoothing", "0"]
PRESET_FLAGS += ["--class-weight", "none", "--time-budget", "0"]


def _save(array, path):
    Image.fromarray(array).save(path)


def _halve(files, seed):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(files))
    half = round(0.5 * len(files))
    return [files[i] for i in sorted(order[:half])], [files[i] for i in sorted(order[half:])]


def build_antsbees(root, degraded=False, per_class=None, seed=0):
    """train/ as given; val/ halved per class into val/ and test/ (see the module docstring)."""
    source = ASSETS / "datasets" / "hymenoptera_data"
    for cls in ("ants", "bees"):
        train = sorted(p for p in (source / "train" / cls).iterdir() if p.suffix == ".jpg")
        held = sorted(p for p in (source / "val" / cls).iterdir() if p.suffix == ".jpg")
        test, val = _halve(held, seed)
        if per_class:
            train, val, test = train[:per_class], val[: per_class // 2], test[: per_class // 2]
        for split, files in (("train", train), ("val", val), ("test", test)):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for path in files:
                if not degraded:
                    shutil.copy(path, root / split / cls / path.name)
                    continue
                image = Image.open(path).convert("RGB")
                small = image.resize((32, 32), Image.BICUBIC)
                small.resize((224, 224), Image.BICUBIC).save(
                    root / split / cls / (path.stem + ".png")
                )


def build_arrays(root, x, y, sizes, seed=0):
    """Grayscale arrays (n, h, w) in [0, 1] -> stratified train/val/test PNG folders (RGB)."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    fractions = np.array(sizes) / sum(sizes)
    total = sum(sizes)
    for c in classes:
        idx = rng.permutation(np.flatnonzero(y == c))
        share = round(total * len(idx) / len(y)) if total < len(y) else len(idx)
        idx = idx[:share]
        cuts = np.round(np.cumsum(fractions) * len(idx)).astype(int)
        for split, part in zip(("train", "val", "test"), np.split(idx, cuts[:-1]), strict=True):
            folder = root / split / str(c)
            folder.mkdir(parents=True, exist_ok=True)
            for i in part:
                gray = np.clip(x[i] * 255, 0, 255).astype("uint8")
                _save(np.repeat(gray[..., None], 3, axis=-1), folder / f"{i}.png")


def build(name, cache, quick=False, mnist_train=1000):
    """The dataset folder (built once into `cache`)."""
    root = cache / (name + ("_quick" if quick else ""))
    if (root / "test").is_dir():
        return root
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if name == "antsbees":
        build_antsbees(tmp, per_class=40 if quick else None)
    elif name == "antsbees_degraded":
        build_antsbees(tmp, degraded=True)
    elif name == "mnist":
        x, y = datasets.load("mnist", ASSETS)
        build_arrays(tmp, x, y, (mnist_train, 500, 1000))
    else:
        x, y = datasets.load("digits")
        build_arrays(tmp, x, y, (1000, 397, 400))
    tmp.rename(root)
    return root


def probe(folder, size, scaled=False):
    """The tuned linear probe on frozen features: (test accuracy, C, seconds, features/s)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    from kerasopt.transfer import backbone, build_classifier, image_dataset
    from kerasopt.transfer.features import cache_features, feature_extractor

    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    data = image_dataset(folder, image_size=size, batch_size=32, augment=False, test_split=0.5)
    model = build_classifier(
        backbone("mobilenet_v2", input_shape=(size, size, 3)), len(data.class_names)
    )
    extractor = feature_extractor(model)
    parts = [
        cache_features(extractor, d, verbose=0) for d in (data.train_eval, data.val, data.test)
    ]
    cache_seconds = sum(p[2] for p in parts)
    (xt, yt, _), (xv, yv, _), (xs, ys, _) = parts
    if scaled:  # standardized features: lbfgs converges in far fewer iterations
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        grid = {"logisticregression__C": np.logspace(-4, 2, 7).tolist()}
    else:
        estimator = LogisticRegression(max_iter=3000)
        grid = {"C": np.logspace(-4, 2, 13).tolist()}
    search = GridSearchCV(estimator, grid, cv=5)
    search.fit(np.concatenate([xt, xv]), np.concatenate([yt, yv]))
    n = len(xt) + len(xv) + len(xs)
    return {
        "test_accuracy": round(float(search.score(xs, ys)), 4),
        "C": next(iter(search.best_params_.values())),
        "scaled": scaled,
        "seconds": round(time.perf_counter() - start, 1),
        "feature_images_per_second": round(n / cache_seconds, 1),
    }


def recipe(folder, size, out, flags=()):
    """`python -m recipes.finetune --data folder [flags]` in a subprocess: metrics + wall time."""
    argv = [sys.executable, "-m", "recipes.finetune", "--data", str(folder), "--out", str(out)]
    argv += ["--overwrite", "--verbose", "2", *(["--image-size", str(size)] if size != 224 else [])]
    argv += list(flags)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"error": proc.stderr[-1500:], "wall_seconds": round(wall, 1)}
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    phases = {
        name: {
            "epochs": m["epochs"],
            "seconds": m["seconds"],
            "images_per_second": m["images_per_second"],
            **({"cache_seconds": m["cache_seconds"]} if "cache_seconds" in m else {}),
            **(
                {"cache_images_per_second": m["cache_images_per_second"]}
                if "cache_images_per_second" in m
                else {}
            ),
        }
        for name, m in metrics["phases"].items()
    }
    auto = metrics.get("auto") or {}
    return {
        "test_accuracy": metrics["test_accuracy"],
        "val_accuracy": round(metrics["val_accuracy"], 4),
        "strategy": metrics["strategy"]["name"],
        "auto_reasons": auto.get("reasons"),
        "auto_measurements": auto.get("measurements"),
        "training_seconds": metrics["training_seconds"],
        "wall_seconds": round(wall, 1),
        "phases": phases,
    }


def phase_one_then_and_now(folder, size):
    """Phase 1 as it was (head on augmented images, 4 epochs) vs on cached features."""
    import tensorflow as tf

    from kerasopt.transfer import (
        DeviceSetup,
        backbone,
        build_classifier,
        image_dataset,
        preset,
        train_head,
    )
    from kerasopt.transfer.features import cache_features, feature_extractor
    from kerasopt.transfer.phases import train_head_on_features

    device = DeviceSetup(tf.distribute.get_strategy(), False, False, "CPU")
    rows = {}
    keras.utils.set_random_seed(0)
    data = image_dataset(folder, image_size=size, batch_size=16, test_split=0.5)
    model = build_classifier(backbone("mobilenet_v2", input_shape=(size, size, 3)), 2)
    start = time.perf_counter()
    _, m = train_head(
        model, model.get_layer("backbone").layer, data, preset("top"), device, verbose=0
    )
    wall = time.perf_counter() - start
    rows["images (today)"] = {
        "val_accuracy": round(m["val_accuracy"], 4),
        "epochs": m["epochs"],
        "wall_seconds": round(wall, 1),
        "images_per_second": round(data.n_train * m["epochs"] / wall, 1),
    }
    keras.utils.set_random_seed(0)
    model = build_classifier(backbone("mobilenet_v2", input_shape=(size, size, 3)), 2)
    start = time.perf_counter()
    extractor = feature_extractor(model)
    train = cache_features(extractor, data.train_eval, verbose=0)[:2]
    val = cache_features(extractor, data.val, verbose=0)[:2]
    _, m = train_head_on_features(model, train, val, 1e-3, epochs=20, patience=20)
    wall = time.perf_counter() - start
    rows["cached features (now)"] = {
        "val_accuracy": round(m["val_accuracy"], 4),
        "epochs": m["epochs"],
        "wall_seconds": round(wall, 1),
        "images_per_second": round(data.n_train * m["epochs"] / wall, 1),
    }
    return rows


def markdown(result):
    lines = [
        "# Adaptive fine-tuning vs a tuned linear probe vs today's presets",
        "",
        f"Command: `{result['command']}`. One seed (0). Machine: {result['machine']['cpu']}, "
        f"{result['machine']['cores']} cores, load average at start "
        f"{', '.join(f'{v:.1f}' for v in result['machine']['load_average_at_start'])} "
        "(shared machine: times are noisy).",
        "",
        "| dataset | kind | size | train/val/test | default: plan | default | probe (C by CV) "
        "| top | several | default - probe | default wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in result["datasets"].items():
        d, p = row["default"], row["probe"]

        def acc(r):
            if "test_accuracy" in r:
                return f"{r['test_accuracy']:.4f}"
            return "error" if r else "not run"

        gap = (
            f"{100 * (d['test_accuracy'] - p['test_accuracy']):+.1f} pts"
            if "test_accuracy" in d
            else "-"
        )
        lines.append(
            f"| {name} | {KIND[name]} | {row['size']} | {row['counts']} | {d.get('strategy', '-')} "
            f"| {acc(d)} | {acc(p)} (C={p['C']:.3g}) | {acc(row.get('top', {}))} "
            f"| {acc(row.get('several', {}))} | {gap} | {d.get('wall_seconds', '-')} |"
        )
    lines += ["", "Per phase (default): epochs, seconds, images/s.", ""]
    lines += ["| dataset | method | phase | epochs | seconds | images/s | caching images/s |"]
    lines += ["|---|---|---|---|---|---|---|"]
    for name, row in result["datasets"].items():
        for method in ("default", "top", "several"):
            for phase, m in row.get(method, {}).get("phases", {}).items():
                lines.append(
                    f"| {name} | {method} | {phase} | {m['epochs']} | {m['seconds']} "
                    f"| {m['images_per_second']} | {m.get('cache_images_per_second', '')} |"
                )
    if result.get("phase_one"):
        lines += ["", "Phase 1 on ants vs bees (224 px): today's vs cached features.", ""]
        lines += [
            "| phase 1 | val accuracy | epochs | wall s | images/s (train images x epochs / wall) |"
        ]
        lines += ["|---|---|---|---|---|"]
        for how, m in result["phase_one"].items():
            lines.append(
                f"| {how} | {m['val_accuracy']} | {m['epochs']} | {m['wall_seconds']} "
                f"| {m['images_per_second']} |"
            )
    lines += ["", "Automatic decisions:", ""]
    for name, row in result["datasets"].items():
        d = row["default"]
        if d.get("auto_reasons"):
            lines.append(f"- {name}: {d['strategy']} ({'; '.join(d['auto_reasons'])})")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.finetune_vs_probe")
    parser.add_argument("--quick", action="store_true", help="ants vs bees subset at 96 px")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help="where the datasets are built")
    parser.add_argument("--only", nargs="*", choices=list(SIZES), help="a subset of the datasets")
    parser.add_argument("--mnist-train", type=int, default=1000)
    parser.add_argument("--no-presets", action="store_true", help="skip today's presets")
    parser.add_argument(
        "--scaled-probe",
        action="store_true",
        help="probe on standardized features, C over 7 values (faster on many classes)",
    )
    args = parser.parse_args(argv)
    if ASSETS is None:
        raise SystemExit(
            "error: the offline assets (../shared/assets or $KERASOPT_ASSETS) are needed"
        )
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    names = ["antsbees"] if args.quick else (args.only or list(SIZES))
    runs = cache / "runs"
    result = {
        "command": " ".join(["python -m benchmarks.finetune_vs_probe", *(argv or sys.argv[1:])]),
        "machine": describe(),
        "seed": 0,
        "datasets": {},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def publish():
        write_json(out / "finetune_vs_probe.json", result)
        write_text(out / "finetune_vs_probe.md", markdown(result))

    for name in names:
        size = 96 if args.quick else SIZES[name]
        folder = build(name, cache, args.quick, args.mnist_train)
        counts = "/".join(
            str(sum(1 for _ in (folder / s).rglob("*.*"))) for s in ("train", "val", "test")
        )
        print(f"{name}: {counts} images at {size} px", flush=True)
        row = {"size": size, "counts": counts}
        row["probe"] = probe(folder, size, scaled=args.scaled_probe)
        print(f"  probe {row['probe']}", flush=True)
        row["default"] = recipe(folder, size, runs / f"{name}-default")
        print(f"  default {row['default']}", flush=True)
        if not (args.quick or args.no_presets):
            for plan in ("top", "several"):
                row[plan] = recipe(
                    folder, size, runs / f"{name}-{plan}", ["--strategy", plan, *PRESET_FLAGS]
                )
                print(f"  {plan} {row[plan].get('test_accuracy')}", flush=True)
        result["datasets"][name] = row
        publish()
    if not args.quick and "antsbees" in names:
        result["phase_one"] = phase_one_then_and_now(build("antsbees", cache), 224)
        publish()
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
