"""Export a fine-tune run (its model or its snapshot ensemble) for production serving.

    kerasopt export RUN --format saved_model|onnx|litert [--quantize dynamic]
        [--version N] [--ensemble] [--out FOLDER]

RUN is a folder written by `python -m recipes.finetune` (model.keras, class_names.json; with
--ensemble, RUN/ensemble/) or any `.keras` file whose model takes RGB images. Every export takes
raw float32 RGB images in [0, 255] of any size and returns class probabilities:
- saved_model: OUT/NAME/VERSION/ (TF Serving layout, signature "serving_default"; VERSION
  defaults to one more than the highest there);
- onnx: OUT/NAME.onnx (ONNX Runtime);
- litert: OUT/NAME.tflite, or OUT/NAME_dynamic.tflite with --quantize dynamic.
OUT defaults to RUN/export; NAME is "model" or "ensemble". Needs `pip install kerasopt[export]`
for ONNX and LiteRT. Errors print one line, `error: ...`, exit status 2 (--debug: the traceback).
"""

from pathlib import Path

from kerasopt.cli._cli import ArgumentParser, CliError, run

FORMATS = ("saved_model", "onnx", "litert")


def _main(argv=None):
    parser = ArgumentParser(prog="kerasopt export", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="run folder (model.keras) or a .keras file")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument(
        "--quantize", choices=("dynamic",), help="LiteRT only: dynamic-range int8 weights"
    )
    parser.add_argument(
        "--version", type=int, help="saved_model only: the TF Serving version (>= 1)"
    )
    parser.add_argument(
        "--ensemble", action="store_true", help="export RUN/ensemble/ (the snapshot ensemble)"
    )
    parser.add_argument("--out", type=Path, help="output folder (default RUN/export)")
    args = parser.parse_args(argv)
    if args.quantize and args.format != "litert":
        raise CliError(
            f"argument --quantize: applies to --format litert only; received --format {args.format}"
        )
    if args.version is not None and (args.format != "saved_model" or args.version < 1):
        raise CliError(
            f"argument --version: must be at least 1, with --format saved_model only; received {args.version}"
        )
    source = args.run / "ensemble" if args.ensemble else args.run
    if not ((source / "model.keras").is_file() or (source.suffix == ".keras" and source.is_file())):
        raise CliError(
            f"{source} has no model.keras: pass a run folder written by recipes.finetune or a .keras file"
        )

    from kerasopt import export

    model, class_names = export.load_run(args.run, ensemble=args.ensemble)
    out = args.out or (args.run.parent if args.run.suffix == ".keras" else args.run) / "export"
    name = (
        "ensemble" if args.ensemble else (args.run.stem if args.run.suffix == ".keras" else "model")
    )
    if args.format == "saved_model":
        path = export.export_saved_model(
            model, out / name, version=args.version, class_names=class_names
        )
    elif args.format == "onnx":
        path = export.export_onnx(model, out / f"{name}.onnx", class_names=class_names)
    else:
        suffix = "_dynamic" if args.quantize else ""
        path = export.export_litert(
            model, out / f"{name}{suffix}.tflite", quantize=args.quantize, class_names=class_names
        )
    size = (
        sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        if path.is_dir()
        else path.stat().st_size
    )
    print(f"{args.format}: {path} ({size:,} bytes)")
    return path


def main(argv=None):
    """The recipe, with one-line errors (`kerasopt.cli._cli.run`)."""
    return run(_main, argv)


if __name__ == "__main__":
    main()
