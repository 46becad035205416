"""Seconds for `kerasopt.transfer.image_dataset`'s full decode check of every image in a folder.

The folder: N JPEG copies of the ants-vs-bees photos (offline assets; typically 500x375 px,
about 100 kB), split over two classes, with one truncated JPEG among them (which the check must
catch). Timed: the folder scan with the decode check (`_list_images`), alone and in
`image_dataset` (which also builds the pipelines; no image is decoded for training there).
Compared with a plain `tf.io.decode_image` of every file in the same parallel tf.data pass.

Run: python -m benchmarks.decode_check [--images 5000]   (--quick: 500 images, 1 round)
Writes benchmarks/results/decode_check.{json,md}.
"""

import argparse
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from benchmarks._machine import describe, load_note, provenance
from kerasopt.cli._offline import find_assets


def make_folder(root, n_images):
    photos = sorted((find_assets() / "datasets" / "hymenoptera_data" / "train").glob("*/*.jpg"))
    photos = [p for p in photos if " " not in p.name]
    for i in range(n_images):
        target = root / ("ants" if i % 2 else "bees") / f"img_{i:05d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(photos[i % len(photos)], target)
    broken = root / "bees" / "img_00000.jpg"
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])
    return broken


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved timed rounds (medians), after one warm-up of each",
    )
    parser.add_argument("--quick", action="store_true", help="500 images, 1 round")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.rounds = 500, 1
    machine = describe()

    import tensorflow as tf

    from kerasopt._io import write_json, write_text
    from kerasopt.transfer import data as data_module

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        broken = make_folder(root, args.images)
        size_mb = sum(p.stat().st_size for p in root.rglob("*.jpg")) / 1e6

        def full(path):
            return tf.shape(
                tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
            )

        def timed(fn):
            start = time.perf_counter()
            value = fn()
            return time.perf_counter() - start, value

        def check():
            return data_module._list_images(root, ["ants", "bees"])

        def dataset():
            return data_module.image_dataset(root, image_size=160, batch_size=32)

        def plain():
            for _ in (
                tf.data.Dataset.from_tensor_slices(paths)
                .map(full, num_parallel_calls=tf.data.AUTOTUNE)
                .batch(256)
            ):
                pass

        # one untimed warm-up of each (page cache, tf.data and thread-pool start-up), then
        # interleaved rounds; medians
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            found = check()
            data = dataset()
        caught_broken = any(str(broken) in str(w.message) for w in caught)
        paths = [p for ps in found.values() for p in ps]
        plain()
        times = {"check": [], "dataset": [], "plain": []}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(args.rounds):
                for name, fn in (("check", check), ("dataset", dataset), ("plain", plain)):
                    times[name].append(timed(fn)[0])
        check_seconds, dataset_seconds, full_seconds = (
            statistics.median(times[k]) for k in ("check", "dataset", "plain")
        )
    result = {
        "machine": machine,
        "load": load_note(machine),
        "images": args.images,
        "megabytes": round(size_mb, 1),
        "decode_check_seconds": round(check_seconds, 2),
        "image_dataset_seconds": round(dataset_seconds, 2),
        "plain_full_decode_seconds": round(full_seconds, 2),
        "truncated_jpeg_caught": caught_broken,
        "usable_images": data.n_train + data.n_val,
        "rounds": args.rounds,
        "headline": {
            "decode check s": round(check_seconds, 2),
            "plain full decode s": round(full_seconds, 2),
            "truncated JPEG caught": caught_broken,
        },
    }
    out = args.out
    write_json(out / "decode_check.json", result)
    m = result["machine"]
    write_text(
        out / "decode_check.md",
        (
            f"# Full decode check of {args.images} JPEGs ({result['megabytes']} MB)\n\n"
            "| step | seconds |\n|---|---|\n"
            f"| decode check (JPEG at 1/8 scale, every byte read) | {result['decode_check_seconds']} |\n"
            f"| image_dataset (scan + check + pipelines) | {result['image_dataset_seconds']} |\n"
            f"| for comparison: plain full-size decode of every file | {result['plain_full_decode_seconds']} |\n\n"
            f"Truncated JPEG caught: {caught_broken}; usable images {result['usable_images']}.\n"
            f"Machine: {m['cpu']}, {m['cores']} cores, {result['load']}"
            f"; one untimed warm-up of each step, then medians of {args.rounds} interleaved rounds. "
            f"{provenance(m)}\n"
        ),
    )
    print(Path(out / "decode_check.md").read_text())


if __name__ == "__main__":
    main()
