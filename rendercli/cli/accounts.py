"""register, login, logout, passwd, whoami."""

from __future__ import annotations

import contextlib

import typer

from rendercli import credentials
from rendercli.cli import context, output
from rendercli.cli.options import JSON_OPTION
from rendercli.errors import AuthRequired, InvalidInput, OperationFailed, RenderCliError
from rendercli.services import accounts, identity

EMAIL_OPTION = typer.Option(None, "--email", "-e", help="Account email (asked if omitted).")
PASSWORD_STDIN = typer.Option(
    False, "--password-stdin", help="Read the password from standard input (for scripts)."
)


def register(
    email: str | None = EMAIL_OPTION,
    password_stdin: bool = PASSWORD_STDIN,
    json_output: bool = JSON_OPTION,
) -> None:
    """Create an account (8+ characters, at most 72 bytes of password).

    Example: rendercli register --email ana@example.com
    """
    address = context.prompt_email(email)
    password = context.prompt_password(from_stdin=password_stdin, confirm=True)
    user = accounts.register(context.uow(), address, password)
    output.result(
        user, json_output, f"Registered {user.email}. Next: rendercli login --email {user.email}"
    )


def login(
    email: str | None = EMAIL_OPTION,
    password_stdin: bool = PASSWORD_STDIN,
    insecure_storage: bool = typer.Option(
        False,
        "--insecure-storage",
        help="Keep the token in a 0600 file in the config dir instead of the OS keyring.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Log in and keep a session token in the OS keyring (30 days).

    Example: printf '%s\\n' "$PASSWORD" | rendercli login --email ana@example.com --password-stdin
    """
    settings = context.settings()
    if not insecure_storage:
        try:
            credentials.check_keyring(settings)
        except credentials.KeyringUnavailable as exc:
            raise OperationFailed(no_keyring_advice(str(exc))) from None
    import socket  # only `login` needs it; keeps `rendercli --help` lean

    address = context.prompt_email(email)
    password = context.prompt_password(from_stdin=password_stdin, confirm=False)
    issued = accounts.login(
        context.uow(), address, password, session_name=f"login on {socket.gethostname()}"
    )
    previous = credentials.load_token(settings)
    try:
        where = credentials.save_token(settings, issued.token, insecure_file=insecure_storage)
    except credentials.KeyringUnavailable as exc:
        accounts.logout(context.uow(), issued.token)  # leave no orphan session behind
        raise OperationFailed(no_keyring_advice(str(exc))) from None
    if previous is not None and previous.source != "RENDERCLI_TOKEN":
        # This machine's earlier session is replaced: end it, don't leave it valid.
        with contextlib.suppress(RenderCliError):
            accounts.logout(context.uow(), previous.token)
    overridden = previous is not None and previous.source == "RENDERCLI_TOKEN"
    if json_output:
        output.print_json(
            {"user": issued.user, "expires_at": issued.expires_at, "token_storage": where,
             "overridden_by_rendercli_token": overridden}
        )
    else:
        output.say(f"Logged in as {issued.user.email} (token stored in {where}).")
    if overridden:
        assert previous is not None
        output.note(
            f"warning: RENDERCLI_TOKEN is set ({_token_owner(previous.token)}) and takes "
            f"precedence: commands still run as that token, not as {issued.user.email}. "
            "Run `unset RENDERCLI_TOKEN` to use this login."
        )


def no_keyring_advice(reason: str) -> str:
    """What to do without an OS keyring: steps that work from this machine, logged in or
    not (a fresh machine cannot create an API token before it has logged in once)."""
    return (
        f"cannot store the session token: {reason}. Here, run `rendercli login "
        f"--insecure-storage` to keep it in a 0600 file "
        f"({credentials.credentials_path(context.settings())}). "
        "For CI, make an API token once: log in that way, run `rendercli token create --name "
        "ci`, then `rendercli logout`, and set RENDERCLI_TOKEN to the token it printed"
    )


def _token_owner(token: str) -> str:
    """Whose a token is, in a few words (for notes about RENDERCLI_TOKEN)."""
    try:
        return f"a token of {identity.authenticate(context.uow(), token).email}"
    except RenderCliError as exc:
        return f"a token that does not work: {exc.message}"


def logout(
    all_sessions: bool = typer.Option(
        False, "--all", help="Revoke every login session of this account, on every machine."
    ),
) -> None:
    """Log out: revoke the session token and remove it from this machine.

    Example: rendercli logout --all
    """
    settings = context.settings()
    stored = credentials.load_token(settings)
    if stored is None:
        local = " (commands here run as the local account)" if context.settings().is_sqlite else ""
        output.say(f"Not logged in{local}.")
        return
    try:
        count = accounts.logout(context.uow(), stored.token, all_sessions=all_sessions)
    except AuthRequired:
        count = 0  # already expired or revoked: just forget it locally
    if stored.source == "RENDERCLI_TOKEN":
        output.note("note: the token came from RENDERCLI_TOKEN; unset it in your environment")
    else:
        credentials.forget_token(settings)
    noun = "session" if count == 1 else "sessions"
    output.say(f"Logged out ({count} {noun} revoked).")


def passwd(
    password_stdin: bool = typer.Option(
        False,
        "--password-stdin",
        help="Read two lines from standard input: the current password, then the new one.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Change your password. Your other login sessions, on every machine, are revoked; this
    one stays logged in, and API tokens keep working (revoke them with `token revoke`).

    Exit 4 if the current password is wrong; the new one follows the rules of `register`.

    Example: printf '%s\\n%s\\n' "$OLD" "$NEW" | rendercli passwd --password-stdin
    """
    stored = context.current_login()
    if stored is None or stored.source.startswith(credentials.LOCAL_ACCOUNT_SOURCE):
        raise AuthRequired("not logged in: the local account has no password (register "
                           "an account and `rendercli login` to have one)")
    token = stored.token
    if password_stdin:
        current = context.read_secret_from_stdin()
        new = context.read_secret_from_stdin()
    elif context.stdin_is_tty():
        current = str(typer.prompt("Current password", hide_input=True))
        new = context.prompt_password(from_stdin=False, confirm=True, label="New password")
    else:
        raise InvalidInput("no terminal to ask for passwords: pipe them with --password-stdin")
    change = accounts.change_password(context.uow(), token, current, new)
    sessions = "session" if change.sessions_revoked == 1 else "sessions"
    tokens = "token keeps" if change.api_tokens_kept == 1 else "tokens keep"
    output.result(
        change,
        json_output,
        f"Password changed. {change.sessions_revoked} other login {sessions} revoked; "
        f"{change.api_tokens_kept} API {tokens} working (`rendercli token list`).",
    )


def whoami(json_output: bool = JSON_OPTION) -> None:
    """Show the account commands run as and where its token is kept.

    That is a login, RENDERCLI_TOKEN, or on a SQLite database the local account.

    Example: rendercli whoami --json
    """
    from rendercli.db.engines import display_url
    from rendercli.services.local_account import is_local

    settings = context.settings()
    stored = context.current_login()
    if stored is None:
        raise AuthRequired(context.NOT_LOGGED_IN)
    user = accounts.authenticate(context.uow(), stored.token)
    overridden = None
    if stored.source == "RENDERCLI_TOKEN":
        saved = credentials.load_stored_token(settings)
        if saved is not None and saved.token != stored.token:
            overridden = saved
    info = {
        "id": user.id,
        "email": user.email,
        "created_at": user.created_at,
        "token_source": stored.source,
        "local_account": is_local(user.email),
        "overrides_stored_login": overridden is not None,
        "database": display_url(settings.database_url),
    }
    if json_output:
        output.print_json(info)
        return
    shown = {k: v for k, v in info.items() if k not in ("overrides_stored_login",
                                                         "local_account")}
    if overridden is not None:
        shown["token_source"] = (f"RENDERCLI_TOKEN, which overrides the login stored in "
                                 f"{overridden.source} ({_token_owner(overridden.token)})")
    output.print_fields(list(shown.items()))
    if overridden is not None:
        output.note("note: `unset RENDERCLI_TOKEN` to act as the stored login.")
    if info["local_account"]:
        output.note("note: this is the local account of this SQLite database (no login "
                    "needed); `rendercli login` to act as a registered account instead.")
