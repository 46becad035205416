"""`python -m kerasopt.cli`: the `kerasopt` command (`kerasopt_cli`, kept outside this package so
that `kerasopt --help` does not import TensorFlow)."""

from kerasopt_cli import COMMANDS, main, usage

__all__ = ["COMMANDS", "main", "usage"]

if __name__ == "__main__":
    main()
