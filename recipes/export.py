"""`python -m recipes.export`: the `kerasopt export` command, whose code is `kerasopt.cli.export`."""

from kerasopt.cli.export import main

if __name__ == "__main__":
    main()
