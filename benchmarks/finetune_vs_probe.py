"""The fine-tuning recipe's default against a tuned linear probe and hand-picked presets.

Every choice is made on validation; test accuracy is reported last, as mean +- sd over seeds.

Five offline dev sets, each as train/ val/ (or validation/) test/ class folders so that every
method sees the same three disjoint splits (built once into `--cache`, outside the repository;
never into shared/):

- `antsbees`: ants vs bees (hymenoptera_data); train/ as given (245), the original val/ (153)
  halved per class (seeded) into val/ (76) and test/ (77), the split `recipes.finetune` makes by
  itself. Similar to ImageNet, small. The main job.
- `antsbees_degraded`: the same files, each downsampled to 32 px and back up to 224 (bicubic):
  blurry, different, small.
- `mnist`: the MNIST test-set digits (mnist_t10k) as 3-channel PNGs, 5,000 / 1,000 / 2,000
  (stratified, seeded): different, larger.
- `digits`: scikit-learn's 8x8 digits as 3-channel images, 1,000 / 397 / 400: different.
- `clothing_small`: 3,781 real photos in 10 unbalanced classes with their own
  train/validation/test folders (read in place).

Methods, each on MobileNetV2 (ImageNet weights from the offline cache):

- `default`: `python -m recipes.finetune --data D --seed S` (no other flag), in a subprocess;
  its metrics.json read back; wall time from the command's start to its exit (the run folder
  is published before it exits).
- `probe`: scikit-learn `LogisticRegression` on standardized pooled features of the same
  backbone at the same input size as the default's run (its metrics.json), same splits, C by
  5-fold cross-validation over 10^-4 .. 10^2 on train + val, scored once on test. It has no
  seed (lbfgs on fixed features): one run, sd 0.
- presets (`--presets`): named flag sets (e.g. `--strategy many --finetune-lr 1e-3`), each over
  the same seeds; the "best preset" is the one with the highest mean validation accuracy.

    python -m benchmarks.finetune_vs_probe --only antsbees clothing_small --seeds 0 1 2
    python -m benchmarks.finetune_vs_probe --quick     # ants vs bees subset, one seed
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from kerasopt.cli._offline import find_assets, use_offline_keras_home

ASSETS = find_assets()
use_offline_keras_home(ASSETS)
# the recipe's runs get the environment a user's shell gives them, not this script's log level
RECIPE_ENV = dict(os.environ)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks._machine import describe, provenance  # noqa: E402
from kerasopt import datasets  # noqa: E402
from kerasopt._io import write_json, write_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path.home() / ".cache" / "kerasopt" / "finetune_vs_probe"
KIND = {
    "antsbees": "similar",
    "antsbees_degraded": "different",
    "mnist": "different",
    "digits": "different",
    "clothing_small": "photos, 10 classes",
}
PRESETS = {
    "many-1e-3": ["--strategy", "many", "--finetune-lr", "1e-3"],
    "several-1e-3": ["--strategy", "several", "--finetune-lr", "1e-3"],
    "find": ["--finetune-lr", "find"],
    "224px": ["--image-size", "224"],
    "no-class-weight": ["--class-weight", "none"],
}
TABLE = ROOT / "docs" / "finetune" / "finetune_vs_probe.md"


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


def build(name, cache, quick=False, mnist_train=5000):
    """The dataset folder (built once into `cache`; clothing_small is read where it is)."""
    if name == "clothing_small":
        return ASSETS / "datasets" / "clothing_small"
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
        build_arrays(tmp, x, y, (mnist_train, 1000, 2000))
    else:
        x, y = datasets.load("digits")
        build_arrays(tmp, x, y, (1000, 397, 400))
    tmp.rename(root)
    return root


def _tuned_probe(train):
    """LogisticRegression on standardized features, C by 5-fold CV on `train` (train + val
    features and labels): (the fitted search, its C and CV accuracy)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    search = GridSearchCV(
        estimator, {"logisticregression__C": np.logspace(-4, 2, 7).tolist()}, cv=5
    )
    search.fit(*train)
    return search, {
        "C": search.best_params_["logisticregression__C"],
        "cv_accuracy": round(float(search.best_score_), 4),
    }


def probe(folder, size, head2toe=False):
    """The tuned linear probe on standardized frozen features: test accuracy, C, seconds; with
    `head2toe`, also the probe on multi-layer features (`kerasopt.transfer.head2toe`), compared
    by cross-validation accuracy on train + val, each scored once on test at the end."""
    from kerasopt.transfer import ImagenetPreprocessing, backbone, build_classifier, image_dataset
    from kerasopt.transfer.features import cache_features, feature_extractor
    from kerasopt.transfer.head2toe import multi_layer_extractor

    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    data = image_dataset(folder, image_size=size, batch_size=32, augment=False, test_split=0.5)
    base = backbone("mobilenet_v2", input_shape=(size, size, 3))
    model = build_classifier(base, len(data.class_names))
    extractors = {"last": feature_extractor(model)}
    if head2toe:
        extractors["head2toe"] = multi_layer_extractor(base, ImagenetPreprocessing("tf"))
    fitted, result = {}, {}
    for name, extractor in extractors.items():
        (xt, yt, _), (xv, yv, _) = (
            cache_features(extractor, d, verbose=0) for d in (data.train_eval, data.val)
        )
        fitted[name], result[name] = _tuned_probe(
            (np.concatenate([xt, xv]), np.concatenate([yt, yv]))
        )
        result[name]["features"] = int(xt.shape[1])
    for name, extractor in extractors.items():  # the test split, once per probe, last
        xs, ys, _ = cache_features(extractor, data.test, verbose=0)
        result[name]["test_accuracy"] = round(float(fitted[name].score(xs, ys)), 4)
    row = {**result["last"], "seconds": round(time.perf_counter() - start, 1)}
    if head2toe:
        row["head2toe"] = result["head2toe"]
    return row


# a line of a run's stderr that a user reads as a problem: a Python warning, an absl or
# TensorFlow C++ warning/error/fatal line ("W0000 ...", "E0000 ...")
LOG_NOISE = re.compile(r"warning|^[WEF]\d{4} ", re.IGNORECASE)


def recipe(folder, out, seed, flags=()):
    """`python -m recipes.finetune --data folder --seed S [flags]` in a subprocess."""
    argv = [sys.executable, "-m", "recipes.finetune", "--data", str(folder), "--out", str(out)]
    argv += ["--overwrite", "--verbose", "2", "--seed", str(seed), *flags]
    start = time.perf_counter()
    proc = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=1800, env=RECIPE_ENV
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"error": proc.stderr[-1500:], "wall_seconds": round(wall, 1)}
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    finetune = metrics["phases"].get("finetune", {})
    return {
        "seed": seed,
        "val_accuracy": round(metrics["val_accuracy"], 4),
        "test_accuracy": metrics["test_accuracy"],
        "plan": metrics["strategy"]["name"],
        "image_size": metrics["image_size"][0],
        "finetune_epochs": finetune.get("epochs", 0),
        "finetune_images_per_second": finetune.get("images_per_second"),
        "cached_activations": (finetune.get("cached_activations") or {}).get("cut"),
        "seconds_from_start": metrics.get("seconds_from_start"),
        "publish_seconds": metrics.get("publish_seconds"),
        "finetune_learning_rate": finetune.get("learning_rate"),
        "learning_rate_found": finetune.get("learning_rate_found"),
        "kept_phase": metrics.get("kept_phase"),
        "wall_seconds": round(wall, 1),
        "warnings": sorted(
            {line.strip() for line in proc.stderr.splitlines() if LOG_NOISE.search(line)}
        ),
    }


def summary(runs, key):
    values = [r[key] for r in runs if key in r]
    if not values:
        return None
    return {
        "mean": round(float(np.mean(values)), 4),
        "sd": round(float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, 4),
        "n": len(values),
    }


def _ms(stat, digits=4):
    return (
        "not run"
        if stat is None
        else f"{stat['mean']:.{digits}f} ± {stat['sd']:.{digits}f} (n={stat['n']})"
    )


def markdown(result):
    m = result["machine"]
    lines = [
        "# The fine-tuning default vs a tuned linear probe vs hand-picked presets",
        "",
        f"{provenance(m)} Seeds {result['seeds']}. Machine: {m['cpu']}, {m['cores']} cores, "
        f"load average at start {', '.join(f'{v:.1f}' for v in m['load_average_at_start'])} "
        "(a machine shared with other jobs: wall times are busy-machine figures).",
        "",
        "Selection on validation only; test accuracy (mean ± sd over seeds) is reported last.",
        "",
        *[
            f"- part: `{part['command']}` at commit `{part['machine'].get('commit')}`, load average at start "
            f"{', '.join(f'{v:.1f}' for v in part['machine']['load_average_at_start'])}"
            for part in result.get("parts", [])
        ],
        *([""] if result.get("parts") else []),
        "| dataset | kind | train/val/test | default: plan, size | default val | best preset (by val) | best preset val | default wall s (max) | probe test (C by CV) | best preset test | default test | default - probe |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in result["datasets"].items():
        d = row["default"]
        runs = [r for r in d if "test_accuracy" in r]
        test, val, wall = (
            summary(runs, "test_accuracy"),
            summary(runs, "val_accuracy"),
            summary(runs, "wall_seconds"),
        )
        best = row.get("best_preset")
        bp = row.get("presets", {}).get(best, [])
        p = row.get("probe")
        gap = (
            "-"
            if test is None or p is None
            else f"{100 * (test['mean'] - p['test_accuracy']):+.1f} pts"
        )
        plans = ", ".join(sorted({f"{r['plan']} {r['image_size']} px" for r in runs})) or "-"
        probe_cell = "not run" if p is None else f"{p['test_accuracy']:.4f} (C={p['C']:.3g})"
        lines.append(
            f"| {name} | {KIND[name]} | {row['counts']} | {plans} | {_ms(val)} | {best or '-'} "
            f"| {_ms(summary(bp, 'val_accuracy'))} | {_ms(wall, 1)} ({max((r['wall_seconds'] for r in runs), default='-')}) "
            f"| {probe_cell} "
            f"| {_ms(summary(bp, 'test_accuracy'))} | {_ms(test)} | {gap} |"
        )
    lines += ["", "Every run (validation, then test):", ""]
    lines += [
        "| dataset | method | seed | plan | size | phase-2 epochs | phase 2 on (images/s) | phase-2 rate (range test's) | kept (by val loss) | val | test | wall s |"
    ]
    lines += ["|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in result["datasets"].items():
        for method, runs in [("default", row["default"]), *row.get("presets", {}).items()]:
            for r in runs:
                if "error" in r:
                    lines.append(
                        f"| {name} | {method} | - | error | | | | | | | | {r['wall_seconds']} |"
                    )
                    continue
                rate = r["finetune_learning_rate"]
                rate = (
                    "-"
                    if rate is None
                    else f"{rate:.3g}"
                    + (f" ({r['learning_rate_found']:.3g})" if r["learning_rate_found"] else "")
                )
                on = "-"
                if r["finetune_epochs"]:
                    where = r.get("cached_activations")
                    on = f"{'cached below ' + where if where else 'images'} ({r.get('finetune_images_per_second')})"
                lines.append(
                    f"| {name} | {method} | {r['seed']} | {r['plan']} | {r['image_size']} | {r['finetune_epochs']} "
                    f"| {on} | {rate} | {r.get('kept_phase') or 'last (before kept_phase)'} "
                    f"| {r['val_accuracy']:.4f} | {r['test_accuracy']:.4f} | {r['wall_seconds']} |"
                )
    h2t = {
        n: row["probe"]
        for n, row in result["datasets"].items()
        if "head2toe" in (row.get("probe") or {})
    }
    if h2t:
        lines += [
            "",
            "Head2Toe-style multi-layer features (every stage's global average) against the last layer's, "
            "each a CV-tuned probe; chosen by CV accuracy on train + val, test read once, last:",
            "",
            "| dataset | features (last / multi) | CV accuracy, last layer | CV accuracy, multi-layer | test, last layer | test, multi-layer |",
            "|---|---|---|---|---|---|",
        ]
        for n, p in h2t.items():
            m = p["head2toe"]
            lines.append(
                f"| {n} | {p.get('features', '-')} / {m['features']} | {p['cv_accuracy']:.4f} | "
                f"{m['cv_accuracy']:.4f} | {p['test_accuracy']:.4f} | {m['test_accuracy']:.4f} |"
            )
    warned = sorted(
        {
            w
            for row in result["datasets"].values()
            for r in row["default"]
            for w in r.get("warnings", [])
        }
    )
    lines += [
        "",
        f"Warnings in the default runs' logs: {len(warned)}"
        + (f" ({'; '.join(warned)})" if warned else "")
        + ".",
    ]
    return "\n".join(lines) + "\n"


def combine(files, out):
    """One result from several made in parallel (a dataset's runs and its probe may come from
    different files), written as the results file and the guide's table; the commands and
    machines of each are kept."""
    parts = [json.loads(f.read_text()) for f in files]
    result = {**parts[0], "datasets": {}, "parts": []}
    for part in parts:
        for name, row in part["datasets"].items():
            merged = result["datasets"].setdefault(
                name, {"counts": row["counts"], "default": [], "presets": {}}
            )
            merged["default"] += row["default"]
            merged["presets"].update(row.get("presets", {}))
            for key in ("probe", "best_preset"):
                if key in row:
                    merged[key] = row[key]
        # a combined file brings its own parts (each with its commit), not itself as one
        result["parts"] += part.get("parts") or [
            {"command": part["command"], "machine": part["machine"]}
        ]
    result["command"] = " ; ".join(part["command"] for part in result["parts"])
    result["machine"]["command"] = result["command"]
    write_json(out / "finetune_vs_probe.json", result)
    table = markdown(result)
    write_text(out / "finetune_vs_probe.md", table)
    if _publishes_guide(out):
        write_text(TABLE, table)
    print(table)
    return result


def _publishes_guide(out):
    """The guide's table follows the committed results only (`--out` left at its default)."""
    return Path(out).resolve() == (ROOT / "benchmarks" / "results").resolve()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.finetune_vs_probe")
    parser.add_argument("--quick", action="store_true", help="ants vs bees subset, one seed")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help="where the datasets are built")
    parser.add_argument("--only", nargs="*", choices=list(KIND), help="a subset of the datasets")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--presets",
        nargs="*",
        choices=list(PRESETS),
        default=[],
        help="hand-picked presets to run too",
    )
    parser.add_argument("--no-probe", action="store_true")
    parser.add_argument(
        "--no-default",
        action="store_true",
        help="only the presets (the default's runs come from another result file: --combine)",
    )
    parser.add_argument(
        "--head2toe",
        action="store_true",
        help="also probe multi-layer features (Head2Toe); compared on CV accuracy over train + val",
    )
    parser.add_argument("--mnist-train", type=int, default=5000)
    parser.add_argument("--merge", action="store_true", help="add to the existing results file")
    parser.add_argument(
        "--combine",
        nargs="*",
        metavar="JSON",
        help="no runs: merge the datasets of these result files (runs made in parallel) and write the tables",
    )
    args = parser.parse_args(argv)
    if args.combine:
        return combine([Path(f) for f in args.combine], Path(args.out))
    if ASSETS is None:
        raise SystemExit(
            "error: the offline assets (../shared/assets or $KERASOPT_ASSETS) are needed"
        )
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    names = ["antsbees"] if args.quick else (args.only or list(KIND))
    seeds = args.seeds[:1] if args.quick else args.seeds
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"datasets": {}}
    if args.merge and (out / "finetune_vs_probe.json").is_file():
        result = json.loads((out / "finetune_vs_probe.json").read_text())
    machine = describe()
    result.update({"command": machine["command"], "machine": machine, "seeds": seeds})

    def publish():
        write_json(out / "finetune_vs_probe.json", result)
        table = markdown(result)
        write_text(out / "finetune_vs_probe.md", table)
        if not args.quick and _publishes_guide(out):
            write_text(TABLE, table)

    for name in names:
        folder = build(name, cache, args.quick, args.mnist_train)
        counts = "/".join(
            str(sum(1 for _ in (folder / s).rglob("*.*")))
            for s in ("train", "validation" if (folder / "validation").is_dir() else "val", "test")
        )
        print(f"{name}: {counts}", flush=True)
        row = {"counts": counts, "default": [], "presets": {}}
        result["datasets"][name] = row
        runs = cache / "runs"
        for seed in [] if args.no_default else seeds:
            row["default"].append(recipe(folder, runs / f"{name}-default-{seed}", seed))
            print(f"  default seed {seed}: {row['default'][-1]}", flush=True)
            publish()
        for preset in args.presets:
            row["presets"][preset] = [
                recipe(folder, runs / f"{name}-{preset}-{seed}", seed, PRESETS[preset])
                for seed in seeds
            ]
            print(f"  {preset}: {row['presets'][preset]}", flush=True)
            publish()
        if row["presets"]:
            row["best_preset"] = max(
                row["presets"],
                key=lambda k: (summary(row["presets"][k], "val_accuracy") or {"mean": -1})["mean"],
            )
        size = next((r["image_size"] for r in row["default"] if "image_size" in r), 160)
        if not args.no_probe:
            row["probe"] = probe(folder, size, args.head2toe)
            print(f"  probe at {size} px: {row['probe']}", flush=True)
        publish()
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
