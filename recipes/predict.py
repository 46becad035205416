"""Classify images with a fine-tuned run folder: prints the top-k classes and probabilities.

    python -m recipes.predict RUN_FOLDER IMAGE [IMAGE ...] [--top-k 3] [--debug]

RUN_FOLDER is what `python -m recipes.finetune` wrote (model.keras and class_names.json).
An image that cannot be read or decoded is reported on stderr by name (`error: IMAGE: ...`) and
the others are still classified; the exit status is then 1. Other errors (no run folder, a
truncated model.keras) print one line, `error: ...`, and exit with status 2 (--debug shows the
traceback).
"""

import json
import sys
from pathlib import Path

from recipes._cli import ArgumentParser, CliError, one_line, run


def _main(argv=None):
    parser = ArgumentParser(prog="python -m recipes.predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="run folder with model.keras and class_names.json")
    parser.add_argument("images", nargs="+", type=Path, help="image files (JPEG, PNG, GIF, BMP)")
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args(argv)
    if args.top_k < 1:
        raise CliError(f"argument --top-k: must be at least 1; received {args.top_k}")
    for required in ("model.keras", "class_names.json"):
        if not (args.run / required).is_file():
            raise CliError(f"{args.run} has no {required}: pass a folder written by recipes.finetune")

    import tensorflow as tf

    import kerasopt

    model = kerasopt.load_model(args.run / "model.keras", compile=False)
    class_names = json.loads((args.run / "class_names.json").read_text())
    k = min(args.top_k, len(class_names))
    results, failed = {}, []
    for path in args.images:
        try:
            image = tf.io.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False)
        except (tf.errors.OpError, OSError) as error:
            message = getattr(error, "message", None) or str(error)
            print(f"error: {path}: not a readable JPEG, PNG, GIF or BMP image ({one_line(message)})", file=sys.stderr)
            failed.append(str(path))
            continue
        probs = model.predict(tf.cast(image, tf.float32)[None], verbose=0)[0]
        top = probs.argsort()[::-1][:k]
        results[str(path)] = [(class_names[i], float(probs[i])) for i in top]
        print(f"{path}: " + ", ".join(f"{class_names[i]} {probs[i]:.3f}" for i in top))
    if failed:
        print(f"{len(failed)} of {len(args.images)} images failed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)
    return results


def main(argv=None):
    """The recipe, with one-line errors (`recipes._cli.run`)."""
    return run(_main, argv)


if __name__ == "__main__":
    main()
