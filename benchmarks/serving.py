"""Serving cost of a snapshot ensemble: single model vs fused K-member ensemble vs K separate
models, in a TF SavedModel, ONNX Runtime and LiteRT, beside the accuracy the ensemble buys.

    python -m benchmarks.serving [--members 3] [--rounds 5] [--calls 50] [--batch-calls 5]
    python -m benchmarks.serving --quick        # smoke test: K = 2, LiteRT only, 2 short rounds

Model: a MobileNetV2 (ImageNet weights from the offline Keras cache, 224x224) classifier for
ants vs bees (`kerasopt.transfer.build_classifier`: raw images of any size in). Its head is
trained on the frozen backbone's pooled features as a snapshot ensemble
(`kerasopt.callbacks.SnapshotEnsemble`, K cosine cycles); member i is the classifier with
snapshot i's head, each with its own copy of the backbone (what serving K fine-tuned members
costs). Rows:
- single: the last snapshot (what a fine-tune run's model.keras holds);
- fused: one graph averaging the K members' probabilities (`kerasopt.ensembles.MemberAverage`,
  what `kerasopt.ensembles.load` builds), exported as one file;
- separate: the K members exported as K files and averaged by the caller: for the SavedModel
  in one `tf.function`, for ONNX Runtime and LiteRT in one Python function over K sessions.
Runtimes: SavedModel (`tf.saved_model.load`), ONNX Runtime, LiteRT (float32; also dynamic-range
quantized for single and fused). Measures: p50 and p99 latency of a batch of 1, throughput at
batch 32, file size; accuracy and NLL (mean negative log-likelihood) of single and ensemble
on the 153 validation photos. Every (row, runtime) pair is warmed up alike (3 calls per batch
size); rounds interleave all pairs (order rotated each round) and the reported figure is the
median over rounds of each round's p50 / p99 / throughput. Writes
benchmarks/results/serving.{json,md}.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from kerasopt.cli._offline import find_assets, use_offline_keras_home  # noqa: E402  (keras-free)

ASSETS = find_assets()
use_offline_keras_home(ASSETS)
RUNTIMES = ("SavedModel", "ONNX Runtime", "LiteRT", "LiteRT dynamic-range")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks._machine import describe, load_note, provenance  # noqa: E402
from kerasopt._io import write_json, write_text  # noqa: E402
from kerasopt.callbacks import SnapshotEnsemble  # noqa: E402
from kerasopt.callbacks.snapshot import MANIFEST  # noqa: E402
from kerasopt.ensembles import MemberAverage  # noqa: E402
from kerasopt.export import (  # noqa: E402
    export_litert,
    export_onnx,
    export_saved_model,
    find_images,
    load_predictor,
    read_images,
)
from kerasopt.transfer import backbone, build_classifier  # noqa: E402

SIZE = 224
CLASSES = ("ants", "bees")


def load_split(folder):
    images, labels = [], []
    for label, cls in enumerate(CLASSES):
        x, _ = read_images(
            [p for p in find_images([folder / cls]) if p.suffix == ".jpg"], (SIZE, SIZE)
        )
        images.append(x)
        labels += [label] * len(x)
    return np.concatenate(images), np.array(labels)


def snapshot_heads(features, labels, members, epochs_per_cycle, folder):
    """K softmax heads on the pooled features, the snapshots of K cosine cycles (Huang et al.)."""
    keras.utils.set_random_seed(0)
    head = keras.Sequential(
        [keras.Input((features.shape[-1],)), keras.layers.Dense(len(CLASSES), activation="softmax")]
    )
    head.compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy")
    head.fit(
        features,
        labels,
        batch_size=32,
        epochs=members * epochs_per_cycle,
        verbose=0,
        callbacks=[SnapshotEnsemble(folder, members, max_lr=0.01)],
    )
    manifest = json.loads((folder / MANIFEST).read_text())
    return [
        keras.models.load_model(folder / entry["file"]).layers[-1].get_weights()
        for entry in manifest["snapshots"]
    ]


def member(base, head_weights, index):
    copy = keras.models.clone_model(base)
    copy.set_weights(base.get_weights())
    model = build_classifier(copy, len(CLASSES), dropout=0.0, name=f"member_{index}")
    model.get_layer("head").set_weights(head_weights)
    return model


def fused(members):
    images = keras.Input((None, None, 3), name="images")
    return keras.Model(
        images, MemberAverage(name="member_average")([m(images) for m in members]), name="ensemble"
    )


def size_of(paths):
    total = 0
    for path in paths:
        total += (
            sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            if path.is_dir()
            else path.stat().st_size
        )
    return total


def saved_models_in_one_function(folders):
    loaded = [
        tf.saved_model.load(str(f)) for f in folders
    ]  # kept alive: the signatures use their variables
    signatures = [model.signatures["serving_default"] for model in loaded]

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)])
    def average(images):
        return tf.reduce_mean(
            tf.stack([s(images=images)["probabilities"] for s in signatures]), axis=0
        )

    return lambda x, keep=loaded: average(tf.constant(x)).numpy()


def average_of(predictors):
    return lambda x: np.mean([p(x) for p in predictors], axis=0)


def timed(fn, x, calls):
    fn(x)  # untimed: the first call at this batch size after a switch (LiteRT reallocates)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return np.array(times)


def nll(probs, labels):
    return float(-np.mean(np.log(np.maximum(probs[np.arange(len(labels)), labels], 1e-12))))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--epochs-per-cycle", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--calls", type=int, default=50, help="timed batch-1 calls per pair and round"
    )
    parser.add_argument(
        "--batch-calls", type=int, default=5, help="timed batch-32 calls per pair and round"
    )
    parser.add_argument(
        "--runtimes", nargs="+", choices=RUNTIMES, default=list(RUNTIMES), help="runtimes to time"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 2 members, 4 epochs per cycle, LiteRT only, 2 rounds of 10 and 2 calls",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument(
        "--render", action="store_true", help="only redo OUT/serving.md from OUT/serving.json"
    )
    args = parser.parse_args(argv)
    if args.render:
        write_text(
            args.out / "serving.md", render(json.loads((args.out / "serving.json").read_text()))
        )
        return
    if args.quick:
        args.members, args.epochs_per_cycle, args.runtimes = 2, 4, ["LiteRT"]
        args.rounds, args.calls, args.batch_calls = 2, 10, 2
    data = ASSETS / "datasets" / "hymenoptera_data" if ASSETS else None
    if data is None or not data.is_dir():
        parser.error("the ants-vs-bees photos are not in the offline assets (set KERASOPT_ASSETS)")
    info = describe()
    started = time.perf_counter()
    threads = os.cpu_count()

    x_train, y_train = load_split(data / "train")
    x_val, y_val = load_split(data / "val")
    base = backbone("mobilenet_v2", weights="imagenet", input_shape=(SIZE, SIZE, 3))
    probe = build_classifier(base, len(CLASSES), dropout=0.0)
    features = keras.Model(probe.input, probe.get_layer("head_pool").output)
    work = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    heads = snapshot_heads(
        features.predict(x_train, verbose=0),
        y_train,
        args.members,
        args.epochs_per_cycle,
        work / "snapshots",
    )
    members = [member(base, w, i) for i, w in enumerate(heads)]
    ensemble = fused(members)
    single = members[-1]
    quality = {}
    for name, model in (("single", single), (f"ensemble of {args.members}", ensemble)):
        probs = model.predict(x_val, batch_size=32, verbose=0)
        quality[name] = {
            "val_accuracy": float((probs.argmax(1) == y_val).mean()),
            "val_nll": nll(probs, y_val),
        }
        print(name, quality[name], flush=True)

    exporters = {
        "SavedModel": lambda m, stem: export_saved_model(m, work / "saved_model" / stem),
        "ONNX Runtime": lambda m, stem: export_onnx(m, work / f"{stem}.onnx"),
        "LiteRT": lambda m, stem: export_litert(m, work / f"{stem}.tflite"),
        "LiteRT dynamic-range": lambda m, stem: export_litert(
            m, work / f"{stem}_dynamic.tflite", quantize="dynamic"
        ),
    }
    exporters = {name: exporters[name] for name in RUNTIMES if name in args.runtimes}
    pairs, sizes = {}, {}
    for runtime, export in exporters.items():
        t = time.perf_counter()
        paths = {"single": export(single, "single"), "fused": export(ensemble, "fused")}
        pairs[("single", runtime)] = load_predictor(paths["single"], threads=threads)
        pairs[("fused", runtime)] = load_predictor(paths["fused"], threads=threads)
        sizes[("single", runtime)], sizes[("fused", runtime)] = (
            size_of([paths["single"]]),
            size_of([paths["fused"]]),
        )
        if runtime != "LiteRT dynamic-range":
            files = [export(m, f"member_{i}") for i, m in enumerate(members[:-1])] + [
                paths["single"]
            ]
            separate = (
                saved_models_in_one_function(files)
                if runtime == "SavedModel"
                else average_of([load_predictor(f, threads=threads) for f in files])
            )
            pairs[("separate", runtime)] = separate
            sizes[("separate", runtime)] = size_of(files)
        print(f"exported {runtime} in {time.perf_counter() - t:.0f} s", flush=True)

    x1, x32 = x_val[:1], x_val[:32]
    reference = ensemble.predict(x32, verbose=0)
    for (row, runtime), fn in pairs.items():
        if (
            row != "single" and "dynamic" not in runtime
        ):  # the three ways to serve the ensemble agree
            np.testing.assert_allclose(fn(x32), reference, atol=1e-4, err_msg=f"{row} {runtime}")
        for _ in range(3):
            fn(x1), fn(x32)
    per_round = {key: [] for key in pairs}
    keys = list(pairs)
    for r in range(args.rounds):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            one = timed(pairs[key], x1, args.calls)
            many = timed(pairs[key], x32, args.batch_calls)
            per_round[key].append(
                (np.percentile(one, 50), np.percentile(one, 99), 32 / np.median(many))
            )
        print(
            f"round {r + 1}/{args.rounds} done, load average {os.getloadavg()[0]:.1f}", flush=True
        )

    rows = []
    for (row, runtime), values in per_round.items():
        p50, p99, throughput = np.median(np.array(values), axis=0)
        rows.append(
            {
                "row": row,
                "runtime": runtime,
                "size_bytes": sizes[(row, runtime)],
                "p50_ms": 1e3 * p50,
                "p99_ms": 1e3 * p99,
                "throughput_images_per_s": throughput,
            }
        )
    rows.sort(
        key=lambda r: (
            ["single", "fused", "separate"].index(r["row"]),
            list(exporters).index(r["runtime"]),
        )
    )
    load_end = os.getloadavg()
    config = {k: str(v) for k, v in vars(args).items()}
    write_json(
        args.out / "serving.json",
        {
            "machine": info,
            "load_average_at_end": load_end,
            "load": load_note(info),
            "config": config,
            "threads": threads,
            "seconds": round(time.perf_counter() - started, 1),
            "quality": quality,
            "results": rows,
            "headline": headline(quality, rows, args.members),
        },
    )
    markdown = render(json.loads((args.out / "serving.json").read_text()))
    write_text(args.out / "serving.md", markdown)
    print(markdown)


def headline(quality, rows, k):
    """Accuracy of single vs ensemble and, per runtime, the batch-1 p50 ratios."""
    p50 = {(r["row"], r["runtime"]): r["p50_ms"] for r in rows}
    figures = {
        "val accuracy, single": quality["single"]["val_accuracy"],
        f"val accuracy, ensemble of {k}": quality[f"ensemble of {k}"]["val_accuracy"],
    }
    for runtime in dict.fromkeys(r["runtime"] for r in rows):
        figures[f"{runtime}: p50 batch 1, fused / single"] = (
            p50[("fused", runtime)] / p50[("single", runtime)]
        )
        if ("separate", runtime) in p50:
            figures[f"{runtime}: p50 batch 1, separate / fused"] = (
                p50[("separate", runtime)] / p50[("fused", runtime)]
            )
    return figures


def render(result):
    """The Markdown tables of a serving.json (`--render` redoes them from the committed JSON)."""
    info, config, quality, rows = (
        result["machine"],
        result["config"],
        result["quality"],
        result["results"],
    )
    k, threads = int(config["members"]), result["threads"]
    label = {
        "single": "single model",
        "fused": f"fused ensemble of {k}",
        "separate": f"{k} separate models",
    }
    lines = [
        "# Serving latency: single model vs snapshot ensemble",
        "",
        f"MobileNetV2 ants-vs-bees classifier, 224x224, raw images in; K = {k} snapshot members. "
        f"Machine: {info['cpu']}, {info['cores']} cores, TensorFlow {info['tensorflow']}, "
        f"Keras {info['keras']}; ONNX Runtime and LiteRT with {threads} threads. "
        f"{result.get('load', '')}"
        + f" {config['rounds']} interleaved rounds of {config['calls']} batch-1 and {config['batch_calls']} batch-32 "
        f"calls; medians over rounds. {provenance(info)}",
        "",
        "The members are snapshots of the head on the frozen backbone: their backbones hold the same "
        "weights. The ONNX and LiteRT converters store weights as constants and merge identical "
        "computations, so the fused file holds one backbone (its size shows it) and runs about as "
        "fast as the single model; the SavedModel keeps K backbones (variables) and costs about K "
        "times, like K separate files. Members fine-tuned through the backbone would not merge "
        "(only their frozen lower layers would).",
        "",
        "| model | val accuracy | val NLL |",
        "|---|---|---|",
    ]
    lines += [
        f"| {name} | {q['val_accuracy']:.4f} | {q['val_nll']:.4f} |"
        for name, q in sorted(quality.items(), key=lambda item: item[0] != "single")
    ]
    lines += [
        "",
        "| model | runtime | size (MB) | p50 batch 1 (ms) | p99 batch 1 (ms) | batch 32 (images/s) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {label[r['row']]} | {r['runtime']} | {r['size_bytes'] / 1e6:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
        f"{r['throughput_images_per_s']:.1f} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
