"""What commands need before calling a service: a unit of work and the logged-in user."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from rendercli.cli.command_app import command_app
from rendercli.cli.output import error_line
from rendercli.credentials import StoredToken, load_token
from rendercli.errors import AuthRequired, InvalidInput
from rendercli.services import identity, upkeep
from rendercli.services.passwords import check_password_rule

if TYPE_CHECKING:
    from rendercli.app import App
    from rendercli.config import Settings
    from rendercli.services.identity import UserView
    from rendercli.services.unit_of_work import UnitOfWork

NOT_LOGGED_IN = (
    "not logged in: run `rendercli login` (add --insecure-storage where there is no "
    "keyring), or set RENDERCLI_TOKEN to an API token"
)


def app() -> App:
    """This command's application object: built on first use (settings read and
    checked once) and dropped when the command ends (rendercli.cli.app_group)."""
    return command_app()


def uow() -> UnitOfWork:
    """A unit of work on this command's database, acting as the logged-in caller."""
    return app().unit_of_work()


def settings() -> Settings:
    """This command's settings (read and checked once, by its application object)."""
    return app().settings


def current_login() -> StoredToken | None:
    """The token this command acts with: RENDERCLI_TOKEN, the stored login, or on the
    embedded SQLite database the local account's (made on first use); None when not
    logged in on PostgreSQL."""
    current = settings()
    stored = load_token(current)
    if stored is not None or not current.is_sqlite:
        return stored
    from rendercli.credentials import load_local_token, save_local_token
    from rendercli.services import local_account

    kept = load_local_token(current)
    signed_in = local_account.sign_in(uow(), kept.token if kept else None)
    if signed_in.issued:
        save_local_token(current, signed_in.token)
    return load_local_token(current)


def current_token() -> str:
    stored = current_login()
    if stored is None:
        raise AuthRequired(NOT_LOGGED_IN)
    return stored.token


def require_user() -> UserView:
    """The calling user (a login, RENDERCLI_TOKEN, or the local account on SQLite), or
    AuthRequired (exit 4). From here on this command's units of work carry its token."""
    token = current_token()
    user = identity.authenticate(uow(), token)
    app().acting_as(token)
    return user


def require_user_recovering() -> UserView:
    """The logged-in user, after `maintenance()`: what every command that reads or changes
    jobs calls, so none of them shows, or is blocked by, a job whose process is gone."""
    user = require_user()
    maintenance()
    return user


def stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def read_secret_from_stdin() -> str:
    """One line from stdin, without its line ending (for --password-stdin)."""
    line = sys.stdin.readline()
    if not line:
        raise InvalidInput("--password-stdin: nothing on standard input")
    return line.rstrip("\r\n")


def prompt_email(email: str | None) -> str:
    if email:
        return email
    if not stdin_is_tty():
        raise InvalidInput("no email given: use --email (there is no terminal to ask on)")

    return str(typer.prompt("Email"))


NEW_PASSWORD_TRIES = 3


def prompt_password(*, from_stdin: bool, confirm: bool, label: str = "Password") -> str:
    """A password from stdin or the terminal. With `confirm` (a new password) the rules
    are checked after the first entry, before it is asked again, and a mismatch asks
    for both again; each problem is one `error: ...` line."""
    if from_stdin:
        return read_secret_from_stdin()
    if not stdin_is_tty():
        raise InvalidInput("no terminal to ask for a password: pipe it with --password-stdin")

    if not confirm:
        return str(typer.prompt(label, hide_input=True))

    for _ in range(NEW_PASSWORD_TRIES):
        first = str(typer.prompt(label, hide_input=True))
        try:
            check_password_rule(first)
        except InvalidInput as exc:
            error_line(exc.message)
            continue
        if str(typer.prompt("Repeat for confirmation", hide_input=True)) == first:
            return first
        error_line("the two entries do not match; enter the password again")
    raise InvalidInput(f"no acceptable password after {NEW_PASSWORD_TRIES} tries")


def maintenance() -> None:
    """Upkeep any command may do (rendercli.services.upkeep): recover jobs whose worker or
    inline render is gone, sweep storage leftovers, dispatch jobs Redis never saw."""
    upkeep.for_command(uow())
