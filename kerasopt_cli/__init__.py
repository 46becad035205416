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

import contextlib
import importlib
import importlib.util
import os
import runpy
import sys
import threading

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


# Lines TensorFlow's C++ code writes to stderr while it loads, before absl reads any log level:
# on a machine without a GPU (or without CUDA drivers) nothing in them is for the user to act on.
LOADING_NOTES = (
    b"All log messages before absl::InitializeLog() is called are written to STDERR",
    b"Could not find cuda drivers on your machine, GPU will not be used.",
)


@contextlib.contextmanager
def quiet_native_logs():
    """While the block runs (where TensorFlow loads), hide TensorFlow's C++ notes that a user
    cannot act on, unless the user set `TF_CPP_MIN_LOG_LEVEL` below 1.

    Two mechanisms, because TensorFlow's lines come from two places:
    - `TF_CPP_MIN_LOG_LEVEL` defaults to 3 (the user's value wins): it hides what absl logs
      after it is set up: CPU-feature notes, tf.data's memory note, XLA's notes, the failed
      CUDA initialization. Errors still reach Python as exceptions.
    - the two lines printed while TensorFlow loads, before any level applies (`LOADING_NOTES`:
      absl's "All log messages before absl::InitializeLog()" and "Could not find cuda
      drivers"), are dropped from the process's stderr (file descriptor 2, which C++ writes to)
      while the block runs: it goes through a pipe whose reader passes every other line on to
      the real stderr as it arrives, so nothing else is lost or delayed, even if the block
      fails.

    `TF_CPP_MIN_LOG_LEVEL=0` shows everything. Used around the import of a subcommand's module
    (`main`) and in `recipes/__init__.py` for `python -m recipes.NAME`.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] in ("", "0"):
        yield
        return
    sys.stderr.flush()
    try:
        real = os.dup(2)
    except OSError:  # no stderr to filter
        yield
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward():
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if any(note in line for note in LOADING_NOTES):
                    continue
                try:
                    while line:
                        line = line[os.write(real, line) :]
                except OSError:  # the real stderr is gone: keep draining, so no writer blocks
                    pass

    reader = threading.Thread(target=forward, name="kerasopt-stderr-filter", daemon=True)
    reader.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)  # the pipe's last writer closes: the reader reads to its end and stops
        reader.join(timeout=5)  # a child started in the block may hold the pipe open
        if not reader.is_alive():
            os.close(real)


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
    with quiet_native_logs():  # the module imports TensorFlow
        module = importlib.import_module(f"kerasopt.cli.{COMMANDS[args[0]][0]}")
    if argv is None:  # the process is the command: the subcommand reads its own command line
        sys.argv = [f"{sys.argv[0]} {args[0]}", *args[1:]]
        module.main()
    else:
        module.main(args[1:])
    return None


if __name__ == "__main__":
    main()
