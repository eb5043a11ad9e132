"""Conventions every command follows: help with an example, fast start, exit codes."""

from __future__ import annotations

import json

import pytest
from typer.main import get_command

from rendercli.cli.main import app
from tests.conftest import Cli, make_account
from tests.imports import modules_loaded_by

HEAVY_MODULES = ["sqlalchemy", "psycopg", "redis", "rq", "bcrypt", "keyring", "av", "alembic"]


def _all_commands():
    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    return list(walk(get_command(app), []))


@pytest.mark.parametrize("path", [p for p, _ in _all_commands()], ids=" ".join)
def test_every_command_has_help_with_an_example(cli: Cli, path: list[str]) -> None:
    result = cli.ok(*path, "--help")
    assert "Example:" in result.stdout
    assert "rendercli" in result.stdout.split("Example:", 1)[1]


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["project", "--help"]])
def test_help_and_version_import_no_heavy_module(argv: list[str]) -> None:
    assert modules_loaded_by(argv, HEAVY_MODULES) == []


def test_version(cli: Cli) -> None:
    from rendercli import __version__

    assert cli.ok("--version").stdout == f"rendercli {__version__}\n"


def test_usage_errors_are_one_line_exit_2(cli: Cli) -> None:
    result = cli("project", "list", "--bogus")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: no such option: --bogus (see 'rendercli project list --help')\n"
    )
    unknown = cli("frobnicate")
    assert unknown.exit_code == 2 and unknown.stderr.count("\n") == 1


def test_missing_email_off_a_terminal_is_invalid_input(cli: Cli, database_url: str) -> None:
    result = cli("register", "--password-stdin", input="password1\n")
    assert result.exit_code == 2
    assert result.stderr == "error: no email given: use --email (there is no terminal to ask on)\n"
    nopass = cli("register", "--email", "a@example.com")
    assert nopass.exit_code == 2 and "--password-stdin" in nopass.stderr


def test_json_documents_are_stable(cli: Cli, database_url: str) -> None:
    result = cli.ok("register", "--email", "j@example.com", "--password-stdin", "--json",
                    input="password1\n")
    doc = json.loads(result.stdout)
    assert set(doc) == {"id", "email", "created_at"}
    assert doc["created_at"].endswith("Z") and "T" in doc["created_at"]


def test_unexpected_errors_have_no_traceback_unless_debug(
    cli: Cli, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rendercli.services import projects

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    # A bug in our own code, simulated: the error mapping must still hold.
    monkeypatch.setattr(projects, "list_projects", broken)
    monkeypatch.setenv("RENDERCLI_TOKEN", make_account(cli, "u@example.com").token)
    result = cli("project", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: unexpected ") and result.stderr.count("\n") == 1
    assert "RENDERCLI_DEBUG=1" in result.stderr
    debug = cli("project", "list", env={"RENDERCLI_DEBUG": "1"})
    assert debug.exception is not None  # re-raised for a full traceback


def test_worker_needs_a_reachable_redis(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    no_redis = cli("worker", "--burst")
    assert no_redis.exit_code == 2 and "RENDERCLI_REDIS_URL" in no_redis.stderr
    monkeypatch.setenv("RENDERCLI_REDIS_URL", "redis://127.0.0.1:1/0")
    down = cli("worker", "--burst")
    assert down.exit_code == 1
    assert down.stderr.startswith("error: cannot reach Redis") and down.stderr.count("\n") == 1


@pytest.mark.parametrize("url", ["garbage", "mysql://u@h/db"])
def test_unusable_database_url_is_invalid_input(cli: Cli, monkeypatch, url: str) -> None:
    monkeypatch.setenv("RENDERCLI_DATABASE_URL", url)
    result = cli("project", "list", env={"RENDERCLI_TOKEN": "rcli_x"})
    assert result.exit_code == 2
    assert result.stderr.startswith("error: RENDERCLI_DATABASE_URL must be")


def test_bad_redis_url_is_refused_before_anything_happens(cli: Cli, monkeypatch) -> None:
    monkeypatch.setenv("RENDERCLI_REDIS_URL", "notaurl")
    result = cli("render", "submit", "p")
    assert result.exit_code == 2 and "RENDERCLI_REDIS_URL must start with" in result.stderr


def test_shared_options_are_defined_once() -> None:
    """--json and the PROJECT/ASSET/JOB arguments live in cli/options.py only."""
    from pathlib import Path

    import rendercli.cli

    folder = Path(rendercli.cli.__file__).parent
    for path in folder.glob("*.py"):
        if path.name == "options.py":
            continue
        text = path.read_text()
        assert '"--json"' not in text, f"{path.name} defines --json again: use options.JSON_OPTION"
        for metavar in ("PROJECT", "ASSET", "JOB"):
            assert f'typer.Argument(..., metavar="{metavar}"' not in text, (
                f"{path.name} defines the {metavar} argument again: use cli/options.py"
            )
