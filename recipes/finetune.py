"""`python -m recipes.finetune`: the fine-tune command, whose code is `kerasopt.cli.finetune`."""

from kerasopt.cli.finetune import main

if __name__ == "__main__":
    main()
