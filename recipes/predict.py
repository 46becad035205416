"""Classify images with a fine-tuned run folder: prints the top-k classes and probabilities.

    python -m recipes.predict RUN_FOLDER IMAGE [IMAGE ...] [--top-k 3]

RUN_FOLDER is what `python -m recipes.finetune` wrote (model.keras and class_names.json).
"""

import argparse
import json
from pathlib import Path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m recipes.predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="run folder with model.keras and class_names.json")
    parser.add_argument("images", nargs="+", type=Path, help="image files (JPEG, PNG, GIF, BMP)")
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args(argv)
    for required in ("model.keras", "class_names.json"):
        if not (args.run / required).is_file():
            parser.error(f"{args.run} has no {required}: pass a folder written by recipes.finetune")

    import keras
    import tensorflow as tf

    import kerasopt  # noqa: F401  (registers kerasopt's layers for loading)

    model = keras.models.load_model(args.run / "model.keras", compile=False)
    class_names = json.loads((args.run / "class_names.json").read_text())
    k = min(args.top_k, len(class_names))
    results = {}
    for path in args.images:
        image = tf.io.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False)
        probs = model.predict(tf.cast(image, tf.float32)[None], verbose=0)[0]
        top = probs.argsort()[::-1][:k]
        results[str(path)] = [(class_names[i], float(probs[i])) for i in top]
        print(f"{path}: " + ", ".join(f"{class_names[i]} {probs[i]:.3f}" for i in top))
    return results


if __name__ == "__main__":
    main()
