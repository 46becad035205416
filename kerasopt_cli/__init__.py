"""The `kerasopt` command: one entry point, one subcommand per module of `kerasopt.cli`.

    kerasopt finetune --data FOLDER          # fine-tune an ImageNet backbone (the main job)
    kerasopt predict RUN IMAGE [IMAGE ...]   # classify images with a run or an export
    kerasopt export RUN --format onnx        # SavedModel, ONNX or LiteRT for serving
    kerasopt serve MODEL --port 8501         # TF Serving's REST API over HTTP
    kerasopt --help | kerasopt COMMAND --help

This module stands outside the `kerasopt` package on purpose: importing `kerasopt` imports
Keras and TensorFlow (it registers every serializable object, so that `import kerasopt` is all
a saved model needs), which takes seconds, and `kerasopt --help` or a mistyped command needs
neither. A subcommand's module (`kerasopt.cli.<module>`) is imported only when it runs.
`python -m kerasopt.cli` is the same command; in a clone, `python -m recipes.NAME` runs the
same code.
"""

import importlib
import importlib.util
import os
import runpy
import sys

# name -> (module under kerasopt.cli, one-line summary)
COMMANDS = {
    "finetune": ("finetune", "fine-tune an ImageNet backbone on an image folder (the main job)"),
    "predict": ("predict", "classify images with a run folder or an exported model"),
    "export": ("export", "export a run (or its snapshot ensemble) as SavedModel, ONNX or LiteRT"),
    "distill": ("distill", "distil a run's snapshot ensemble into a smaller backbone"),
    "holdout-split": ("holdout_split", "split an image folder's val/ into val/ and test/"),
    "serve": ("serve", "serve a model over HTTP with TF Serving's REST API"),
    "search": ("search", "coarse-to-fine hyperparameter search (keras-tuner)"),
}


def quiet_native_logs():
    """Hide TensorFlow's C++ log lines unless the user set `TF_CPP_MIN_LOG_LEVEL`: on a CPU
    machine, CPU-feature notes, tf.data's memory note, XLA's notes and (in most paths) the
    failed CUDA initialization, none of which a user can act on (errors still reach Python as
    exceptions; `TF_CPP_MIN_LOG_LEVEL=0` shows everything). Two lines printed while TensorFlow
    loads, before any level applies, stay: absl's "All log messages before
    absl::InitializeLog()" and "Could not find cuda drivers". It must run before TensorFlow
    loads: here, before a subcommand's module is imported, and in `recipes/__init__.py` for
    `python -m recipes.NAME`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def usage():
    """The top-level help text: the commands and their summaries."""
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    return (
        "usage: kerasopt COMMAND [ARGS ...]\n\n"
        "Deep-learning optimization techniques as Keras 3 objects, from the command line.\n\n"
        "commands:\n" + "\n".join(lines) + "\n\n`kerasopt COMMAND --help` describes each one.\n"
    )


def main(argv=None):
    """Run `kerasopt COMMAND ARGS...`: import `kerasopt.cli.<module>` and call its `main(ARGS)`.

    Args:
        argv: the arguments after `kerasopt` (default: `sys.argv[1:]`).

    Returns:
        None, so that the console script exits with status 0 (what the subcommand's `main`
        returns, a run's result or a dict of predictions, is for callers in Python). A
        subcommand's errors exit through `SystemExit` with their own status; an unknown command
        prints one line `error: ...` and exits with status 2.

    Example:
        >>> from kerasopt_cli import main
        >>> main(["--help"])  # doctest: +ELLIPSIS
        usage: kerasopt COMMAND [ARGS ...]
        ...
    """
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage(), end="")
        return None
    if args[0] == "--version":  # read from kerasopt/_version.py, without importing kerasopt
        where = importlib.util.find_spec("kerasopt").submodule_search_locations[0]
        print(f"kerasopt {runpy.run_path(f'{where}/_version.py')['__version__']}")
        return None
    if args[0] not in COMMANDS:
        print(
            f"error: unknown command {args[0]!r}; choose from {', '.join(COMMANDS)} "
            "(see kerasopt --help)",
            file=sys.stderr,
        )
        sys.exit(2)
    quiet_native_logs()
    module = importlib.import_module(f"kerasopt.cli.{COMMANDS[args[0]][0]}")
    if argv is None:  # the process is the command: the subcommand reads its own command line
        sys.argv = [f"{sys.argv[0]} {args[0]}", *args[1:]]
        module.main()
    else:
        module.main(args[1:])
    return None


if __name__ == "__main__":
    main()
