"""Classify images with a fine-tune run folder or an exported model: the top-k classes of each.

    kerasopt predict MODEL INPUT [INPUT ...] [--top-k 3] [--batch-size 32]
        [--json FILE] [--csv FILE] [--ensemble] [--debug]

MODEL is a run folder written by `python -m recipes.finetune` (model.keras and
class_names.json; --ensemble: its snapshot ensemble, RUN/ensemble/), a `.keras` file, or what
`kerasopt export` wrote: a SavedModel version folder, an `.onnx` or a `.tflite` file.
INPUT is any mix of image files, folders (searched recursively) and glob patterns (quote them so
the shell leaves them to the recipe). Images stream through the model in batches, with a
progress bar on stderr; the results are printed one line per image (`IMAGE: class p, ...`), or
written with --json / --csv (atomically).

In a folder or a glob, a file without an image suffix is skipped with a warning naming it. An
image that cannot be read or decoded is reported on stderr by name (`error: IMAGE: ...`) and
the others are still classified; the exit status is then 1. Other errors (no model, a
truncated model.keras, an input that matches nothing) print one line, `error: ...`, and exit
with status 2 (--debug shows the traceback).
"""

import csv
import io
import sys
from pathlib import Path

from kerasopt.cli._cli import ArgumentParser, CliError, run


def _check_model(path):
    if path.is_file() and path.suffix in (".keras", ".onnx", ".tflite"):
        return
    if path.is_dir() and any((path / name).is_file() for name in ("model.keras", "saved_model.pb")):
        return
    raise CliError(
        f"{path} has no model.keras: pass a run folder written by recipes.finetune, a .keras file, or an "
        "export of recipes.export (a SavedModel folder, an .onnx or a .tflite file)"
    )


def _csv(rows, k):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["file"] + [f"{field}_{i + 1}" for i in range(k) for field in ("class", "probability")]
    )
    for row in rows:
        writer.writerow([row["file"]] + [v for c, p in row["top"] for v in (c, f"{p:.6f}")])
    return out.getvalue()


def _main(argv=None):
    parser = ArgumentParser(prog="kerasopt predict", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "model", type=Path, help="run folder, .keras file, SavedModel folder, .onnx or .tflite file"
    )
    parser.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--ensemble", action="store_true", help="a run folder's snapshot ensemble (RUN/ensemble/)"
    )
    parser.add_argument("--json", type=Path, help="write the predictions to this JSON file")
    parser.add_argument("--csv", type=Path, help="write the predictions to this CSV file")
    args = parser.parse_args(argv)
    for flag, value in (("--top-k", args.top_k), ("--batch-size", args.batch_size)):
        if value < 1:
            raise CliError(f"argument {flag}: must be at least 1; received {value}")
    _check_model(args.model / "ensemble" if args.ensemble and args.model.is_dir() else args.model)

    from kerasopt.export import find_images, load_predictor, predict_files

    paths = find_images(args.inputs)
    predictor = load_predictor(args.model, ensemble=args.ensemble)

    import keras

    from kerasopt._io import write_json, write_text

    failed = []

    def report(path, message):
        print(f"error: {path}: {message}", file=sys.stderr)
        failed.append(str(path))

    bar = keras.utils.Progbar(len(paths), unit_name="file", verbose=1 if sys.stderr.isatty() else 0)
    stdout, sys.stdout = (
        sys.stdout,
        sys.stderr,
    )  # the progress bar goes to stderr, the results to stdout
    try:
        rows = list(
            predict_files(predictor, paths, args.batch_size, args.top_k, bar.update, report)
        )
    finally:
        sys.stdout = stdout
    for row in rows:
        if not (args.json or args.csv):
            print(f"{row['file']}: " + ", ".join(f"{c} {p:.3f}" for c, p in row["top"]))
    if args.json:
        write_json(
            args.json,
            [
                {"file": r["file"], "top": [{"class": c, "probability": p} for c, p in r["top"]]}
                for r in rows
            ],
        )
    if args.csv:
        write_text(
            args.csv,
            _csv(rows, min(args.top_k, len(rows[0]["probabilities"])) if rows else args.top_k),
        )
    if failed:
        print(f"{len(failed)} of {len(paths)} images failed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)
    return {row["file"]: row["top"] for row in rows}


def main(argv=None):
    """The recipe, with one-line errors (`kerasopt.cli._cli.run`)."""
    return run(_main, argv)


if __name__ == "__main__":
    main()
