"""The command line: the `kerasopt` command (`kerasopt_cli`, beside this package) and its subcommands.

Each subcommand is a module here with a `main(argv)`: `finetune`, `predict`, `export`, `serve`,
`distill`, `holdout_split` (`kerasopt holdout-split`) and `search`; `python -m recipes.NAME`
runs the same code in a clone. Argument errors print one line (`kerasopt.cli._cli`).
"""
