"""Images per second that `fit` draws from the two input pipelines of `kerasopt.transfer`:
tf.data (`image_dataset`, TensorFlow only) vs Pillow + `keras.utils.PyDataset`
(`image_sequences`, every backend), on the ants-vs-bees training folder.

Same work on both sides: the 245 training images decoded, resized to `--image-size`, cached as
uint8, shuffled, batched (32) and augmented (`transfer.augmentation`, the recipe's setting). Both
are drawn by `fit` of a model with nothing to learn (a global average pooling and a frozen Dense
layer), so the figure is what training sees of the pipeline. Epoch 1 decodes (and fills the
cache); the later epochs read the cache. Each round builds both pipelines afresh; rounds are
interleaved and medians reported. The PyDataset pipeline is measured on TensorFlow in the same
process and on JAX in a subprocess (`KERAS_BACKEND=jax`), there also without augmentation (the
cost of Keras' random layers run op by op off TensorFlow) and with the augmentation inside the
compiled step (`image_sequences(in_step=True)`: uint8 batches, the last one padded; the model
starts with `kerasopt.layers.FlipRotateZoom`, the same flip/rotation/zoom laws, jit-compiled).

Run: python -m benchmarks.image_pipeline [--quick] [--out benchmarks/results]
Writes image_pipeline.json and image_pipeline.md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

from benchmarks._machine import describe, load_note, provenance

IN_STEP = "PyDataset uint8, augmentation in the compiled step"


def _folder():
    root = Path(os.environ.get("KERASOPT_ASSETS", Path("..") / "shared" / "assets"))
    return root / "datasets" / "hymenoptera_data"


def _draw(train, n_images, epochs, in_step=False):
    """Images/s per epoch of `fit` over `train` on a model with nothing to learn (`in_step`:
    uint8 input, `FlipRotateZoom` first, jit-compiled)."""
    import keras

    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(n_images / (time.perf_counter() - self.start))

    layers = [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, trainable=False)]
    if in_step:
        from kerasopt.layers import FlipRotateZoom

        layers.insert(0, FlipRotateZoom(seed=0))
    model = keras.Sequential(layers)
    model.compile(loss="sparse_categorical_crossentropy", jit_compile=True if in_step else "auto")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "The model does not have any trainable weights."
        model.fit(train, epochs=epochs, verbose=0, callbacks=[Timer()])
    return times


def _measure(kind, size, epochs, workers):
    from kerasopt.transfer import image_dataset, image_sequences

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the GIF placeholder's warning, once per build
        if kind == "tf.data":
            data = image_dataset(_folder(), image_size=size, batch_size=32)
        else:
            data = image_sequences(
                _folder(),
                image_size=size,
                batch_size=32,
                workers=workers,
                augment=kind != "PyDataset, no augmentation",
                in_step=kind == IN_STEP,
            )
    rates = _draw(data.train, data.n_train, epochs, in_step=kind == IN_STEP)
    return {"decode_epoch": rates[0], "cached_epochs": statistics.median(rates[1:])}


def _rounds(kinds, size, epochs, rounds, workers):
    found = {kind: [] for kind in kinds}
    for _ in range(rounds):
        for kind in kinds:
            found[kind].append(_measure(kind, size, epochs, workers))
    return {
        kind: {
            key: round(statistics.median(r[key] for r in runs), 1)
            for key in ("decode_epoch", "cached_epochs")
        }
        | {"rounds": runs}
        for kind, runs in found.items()
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 round, 96 px")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4, help="PyDataset worker threads")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--only-pydataset", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size = args.image_size or (96 if args.quick else 224)
    rounds = args.rounds or (1 if args.quick else 3)
    if not _folder().is_dir():
        parser.error(f"the ants-vs-bees folder {_folder()} is missing (set KERASOPT_ASSETS)")
    if args.only_pydataset:  # the JAX subprocess
        kinds = ["PyDataset", "PyDataset, no augmentation", IN_STEP]
        print(json.dumps(_rounds(kinds, size, args.epochs, rounds, args.workers)))
        return None
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from kerasopt._io import write_json, write_text

    machine = describe()
    backend = keras.backend.backend()
    if backend != "tensorflow":
        parser.error("run it on the TensorFlow backend (it starts the JAX run itself)")
    results = {
        f"{kind} ({backend})": value
        for kind, value in _rounds(
            ["tf.data", "PyDataset"], size, args.epochs, rounds, args.workers
        ).items()
    }
    command = [sys.executable, "-m", "benchmarks.image_pipeline", "--only-pydataset"]
    command += ["--image-size", str(size), "--rounds", str(rounds), "--epochs", str(args.epochs)]
    command += ["--workers", str(args.workers)]
    jax_run = subprocess.run(
        command,
        env={**os.environ, "KERAS_BACKEND": "jax"},
        capture_output=True,
        text=True,
        check=True,
    )
    for kind, value in json.loads(jax_run.stdout.strip().splitlines()[-1]).items():
        results[f"{kind} (jax)"] = value
    result = {
        "machine": machine,
        "settings": {
            "image_size": size,
            "rounds": rounds,
            "epochs": args.epochs,
            "workers": args.workers,
            "batch_size": 32,
            "augment": True,
            "images": "ants vs bees train/ (245)",
        },
        "images_per_second": results,
    }
    out = Path(args.out)
    write_json(out / "image_pipeline.json", result)
    lines = [
        "# Input pipelines: tf.data vs Pillow + keras.utils.PyDataset",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores; {load_note(machine)} "
        f"TensorFlow {machine['tensorflow']}, Keras {machine['keras']}.",
        f"Ants vs bees train/ (245 images) at {size} px, batch 32, augmented, "
        f"{args.workers} PyDataset worker threads; images/s that `fit` draws, median of "
        f"{rounds} interleaved rounds.",
        "",
        "| pipeline (backend) | epoch 1: decode | later epochs: cached |",
        "|---|---|---|",
    ]
    lines += [
        f"| {name} | {r['decode_epoch']:.0f} | {r['cached_epochs']:.0f} |"
        for name, r in results.items()
    ]
    lines += ["", provenance(machine)]
    write_text(out / "image_pipeline.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
