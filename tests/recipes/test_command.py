"""The `kerasopt` command: its subcommands, their lazy import, and the recipes as thin aliases."""

import ast
import importlib
import sys
from pathlib import Path

import pytest

from kerasopt.cli.__main__ import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]


def test_help_lists_every_command_and_imports_none(capsys):
    before = {name for name in sys.modules if name.startswith("kerasopt.cli.")}
    main(["--help"])
    out = capsys.readouterr().out
    for name in ("finetune", "predict", "export", "serve"):
        assert f"\n  {name} " in out
    after = {name for name in sys.modules if name.startswith("kerasopt.cli.")}
    assert after == before  # no subcommand module was imported to print the help


def test_unknown_command_is_one_line_with_status_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fine-tune"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: unknown command 'fine-tune'")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_has_a_main_and_its_prog_is_kerasopt_name(name):
    module_name = COMMANDS[name][0]
    path = ROOT / "kerasopt" / "cli" / f"{module_name}.py"
    tree = ast.parse(path.read_text())
    assert "main" in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    if name != "finetune":  # finetune's parser is owned by the fine-tune CLI (issue 25)
        assert f'prog="kerasopt {name}"' in path.read_text()


@pytest.mark.parametrize("module_name", [m for m, _ in COMMANDS.values() if m != "serve"])
def test_recipe_is_a_thin_alias_of_the_package_command(module_name):
    recipe = ROOT / "recipes" / f"{module_name}.py"
    code = [
        line
        for line in recipe.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(('"""', "#"))
    ]
    assert code == [
        f"from kerasopt.cli.{module_name} import main",
        'if __name__ == "__main__":',
        "    main()",
    ]
    assert (
        importlib.import_module(f"recipes.{module_name}").main
        is importlib.import_module(f"kerasopt.cli.{module_name}").main
    )


def test_the_console_script_exits_0_whatever_the_subcommand_returns(monkeypatch):
    # the console script runs sys.exit(main()): a returned object would become exit status 1
    import kerasopt.cli.holdout_split as module

    monkeypatch.setattr(module, "main", lambda argv: {"a result": argv})
    assert main(["holdout-split", "x"]) is None
