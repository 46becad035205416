"""`python -m recipes.holdout_split`: the `kerasopt holdout-split` command, whose code is `kerasopt.cli.holdout_split`."""

from kerasopt.cli.holdout_split import main

if __name__ == "__main__":
    main()
