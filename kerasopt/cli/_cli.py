"""One-line errors for the recipes: `error: ...` on stderr, exit status 2, no traceback.

    parser = ArgumentParser(prog="python -m recipes.x", description=...)   # adds --debug
    ...
    if __name__ == "__main__":
        run(main)

Anticipated errors are argparse's (bad flags), `CliError` (a recipe's own check, in the CLI's
words), `ValueError`/`TypeError` (kerasopt's argument checks and data checks), `OSError`
(missing or unreadable files), and kerasopt's `DataUnavailableError` and
`WeightsUnavailableError`. `--debug` shows the traceback instead. Anything else is a bug and
keeps its traceback. Imports neither Keras nor TensorFlow.
"""

import argparse
import sys


class CliError(Exception):
    """An anticipated error, worded for the command line (`--epochs-head`, not `epochs_head`)."""


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` with `--debug`, whose errors are one line (no usage block)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument("--debug", action="store_true", help="show the traceback of an error")

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _anticipated(error):
    if isinstance(error, (CliError, ValueError, TypeError, OSError)):
        return True
    transfer = sys.modules.get("kerasopt.transfer")
    return transfer is not None and isinstance(
        error, (transfer.DataUnavailableError, transfer.WeightsUnavailableError)
    )


def one_line(error):
    """The error's message on one line."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


def run(main, argv=None):
    """Call `main(argv)`; an anticipated error prints `error: <message>` and exits with status 2
    (with `--debug` in the arguments, it is raised with its traceback). Returns main's result."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        return main(argv)
    except Exception as error:
        if "--debug" in args or not _anticipated(error):
            raise
        print(f"error: {one_line(error)}", file=sys.stderr)
        sys.exit(2)
