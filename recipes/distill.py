"""`python -m recipes.distill`: the `kerasopt distill` command, whose code is `kerasopt.cli.distill`."""

from kerasopt.cli.distill import main

if __name__ == "__main__":
    main()
