"""`python -m recipes.predict`: the `kerasopt predict` command, whose code is `kerasopt.cli.predict`."""

from kerasopt.cli.predict import main

if __name__ == "__main__":
    main()
