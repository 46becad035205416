"""`python -m recipes.search`: the `kerasopt search` command, whose code is `kerasopt.cli.search`."""

from kerasopt.cli.search import main

if __name__ == "__main__":
    main()
