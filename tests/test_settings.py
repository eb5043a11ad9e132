"""Every RENDERCLI_* number is checked when read: a bad one is one line naming the variable
and its allowed range, exit 2, and nothing happens."""

from __future__ import annotations

import pytest

from rendercli.config import SETTINGS
from tests.conftest import TEST_PASSWORD, Cli

NUMBERS = [s for s in SETTINGS if s.kind is not str]
ALWAYS_BAD = ["nan", "inf", "-inf", "-5", "1e9", "abc", "0x10", "1e400"]


def bad_values(setting) -> list[str]:  # type: ignore[no-untyped-def]
    values = [*ALWAYS_BAD, f"{setting.low - 1:g}", f"{setting.high * 2:g}"]
    if setting.kind is int:
        values.append(f"{setting.low + 0.5:g}")  # not a whole number
    return list(dict.fromkeys(v for v in values if not _in_range(setting, v)))


def _in_range(setting, raw: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        value = float(raw)
    except ValueError:
        return False
    whole = setting.kind is not int or value.is_integer()
    return setting.low <= value <= setting.high and whole


CASES = [(s.name, v, s.allowed) for s in NUMBERS for v in bad_values(s)]


@pytest.mark.parametrize(("name", "raw", "allowed"), CASES,
                         ids=[f"{n.removeprefix('RENDERCLI_')}={v}" for n, v, _ in CASES])
def test_bad_numbers_are_one_line_exit_2(cli: Cli, name: str, raw: str, allowed: str) -> None:
    result = cli("whoami", env={name: raw})
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr == f"error: {name} must be {allowed}, got {raw!r}\n"
    assert isinstance(result.exception, SystemExit)  # no traceback, no other error


@pytest.mark.parametrize(
    ("name", "raw"),
    [("RENDERCLI_TOKEN_DAYS", v) for v in ("nan", "inf", "1e9", "-5")]
    + [("RENDERCLI_BCRYPT_ROUNDS", v) for v in ("2", "40")],
)
def test_register_and_login_refuse_bad_account_settings(
    cli: Cli, database_url: str, name: str, raw: str
) -> None:
    from sqlalchemy import func, select

    from rendercli.db.models import AuthToken, User
    from tests.orm import get_session_factory

    cli.ok("register", "--email", "s@example.com", "--password-stdin", input=TEST_PASSWORD + "\n")
    for argv in (["register", "--email", "t@example.com", "--password-stdin"],
                 ["login", "--email", "s@example.com", "--password-stdin", "--insecure-storage"]):
        result = cli(*argv, input=TEST_PASSWORD + "\n", env={name: raw})
        assert result.exit_code == 2, (argv, result.stdout, result.stderr)
        assert result.stderr.startswith(f"error: {name} must be a whole number from ")
        assert result.stderr.count("\n") == 1
    with get_session_factory(database_url)() as session:  # nothing was created
        assert session.scalar(select(func.count()).select_from(User)) == 1
        assert session.scalar(select(func.count()).select_from(AuthToken)) == 0


def test_in_range_values_are_accepted(cli: Cli, database_url: str) -> None:
    env = {s.name: (f"{s.low:.0f}" if s.kind is int else f"{s.low:g}") for s in NUMBERS}
    env["RENDERCLI_HEARTBEAT_TIMEOUT"] = "5"  # more than the interval
    env["RENDERCLI_BCRYPT_ROUNDS"] = "4"
    cli.ok("register", "--email", "r@example.com", "--password-stdin",
           input=TEST_PASSWORD + "\n", env=env)


def test_heartbeat_timeout_must_exceed_the_interval(cli: Cli) -> None:
    result = cli("whoami", env={"RENDERCLI_HEARTBEAT_INTERVAL": "30",
                                "RENDERCLI_HEARTBEAT_TIMEOUT": "20"})
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "RENDERCLI_HEARTBEAT_TIMEOUT (20 s) must be more than" in result.stderr


@pytest.mark.parametrize(
    ("option", "value"),
    [("--timeout", v) for v in ("nan", "inf", "-1", "-inf", "1e12")]
    + [("--interval", v) for v in ("nan", "inf", "-1", "0", "0.01")],
)
def test_watch_refuses_non_finite_and_negative_seconds(cli: Cli, database_url: str,
                                                       option: str, value: str) -> None:
    result = cli("jobs", "watch", "somejob", option, value, env={"RENDERCLI_TOKEN": "rcli_x"})
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith(f"error: {option} must be a number from ")
    assert result.stderr.count("\n") == 1


def test_readme_configuration_table_is_generated_from_the_settings() -> None:
    from pathlib import Path

    from rendercli.config import settings_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme, (
        "README's configuration table is out of date: paste rendercli.config.settings_table()")


def test_cancel_poll_must_be_less_than_the_heartbeat_timeout(cli: Cli) -> None:
    result = cli("whoami", env={"RENDERCLI_CANCEL_POLL_INTERVAL": "30",
                                "RENDERCLI_HEARTBEAT_INTERVAL": "5",
                                "RENDERCLI_HEARTBEAT_TIMEOUT": "20"})
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "RENDERCLI_CANCEL_POLL_INTERVAL (30 s) must be less than" in result.stderr


def test_tunables_come_from_the_settings_they_are_read_into() -> None:
    """A setting takes effect through the settings an application read (workers and
    tests see the environment they were built with), and is checked when read."""
    from rendercli.config import read_settings
    from rendercli.repositories.jobs import append_log

    default = read_settings({}).log_limit
    assert append_log("x" * 70_000, None, default) == "x" * 64 * 1024  # the default: 64 KiB
    limit = read_settings({"RENDERCLI_LOG_LIMIT": "2000"}).log_limit
    assert append_log("new", "o" * 5000, limit) == "o" * 1997 + "new"
    with pytest.raises(Exception, match="RENDERCLI_LOG_LIMIT must be a whole number from"):
        read_settings({"RENDERCLI_LOG_LIMIT": "10"})
