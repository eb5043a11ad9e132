"""The root command loads a noun's module only when that noun runs (cli/app_group.py),
and lists every command from the table in cli/main.py without importing one."""

from __future__ import annotations

import importlib

import pytest
import typer
from typer.main import get_command

from rendercli.cli.main import COMMANDS, app
from tests.imports import modules_loaded_by

NOUN_MODULES = sorted({target.split(":")[0] for target, _ in COMMANDS.values()})


def test_root_help_loads_no_command_module() -> None:
    assert modules_loaded_by(["--help"], NOUN_MODULES) == []


def test_a_command_loads_its_own_noun_only() -> None:
    loaded = modules_loaded_by(["project", "list", "--help"], NOUN_MODULES)
    assert loaded == ["rendercli.cli.projects"]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_table_help_is_the_commands_own(name: str) -> None:
    """The one line `rendercli --help` shows is what the command's own help would give."""
    root = get_command(app)
    command = root.get_command(None, name)
    assert command is not None
    stand_in = root.commands.summary(name)
    for width in (30, 45, 94):
        assert stand_in.get_short_help_str(width) == command.get_short_help_str(width)


def test_every_cli_app_is_in_the_table() -> None:
    """A noun (a module with a Typer app) is reachable from the root."""
    import pkgutil

    import rendercli.cli

    listed = {target for target, _ in COMMANDS.values()}
    for info in pkgutil.iter_modules(rendercli.cli.__path__):
        module = importlib.import_module(f"rendercli.cli.{info.name}")
        if isinstance(getattr(module, "app", None), typer.Typer) and info.name != "main":
            assert f"rendercli.cli.{info.name}:app" in listed, info.name


def test_a_typo_still_gets_a_suggestion(cli) -> None:
    result = cli("projet")
    assert result.exit_code == 2
    assert "Did you mean 'project'?" in result.stderr and result.stderr.count("\n") == 1
