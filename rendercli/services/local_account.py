"""The local account: on the embedded SQLite database nobody registers or logs in.

Whoever can open the SQLite file can read all of it, so a password there protects
nothing. The first command on a fresh machine makes an account named after the OS user
(`alice@localhost`) and an API token for it; the CLI keeps that token in a 0600 file in
the private data dir (rendercli.credentials) and uses it whenever no login and no
RENDERCLI_TOKEN is present. `register`/`login` still work and take precedence. On
PostgreSQL there is no local account: every caller logs in.

`localhost` has no dot, so `register` (rendercli.services.accounts.normalize_email)
refuses such an address: nobody can register an account that poses as the local one.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rendercli.errors import AuthRequired, InvalidInput
from rendercli.repositories import accounts as repo
from rendercli.services import passwords
from rendercli.services.accounts import TOKEN_PREFIX
from rendercli.services.identity import UserView, authenticate, hash_token

if TYPE_CHECKING:
    from rendercli.services.unit_of_work import UnitOfWork

LOCAL_DOMAIN = "localhost"
TOKEN_NAME = "local account"
_UNSAFE = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True)
class LocalLogin:
    """The local account and the token to act as it (`issued`: a new token the caller
    must keep, replacing any it had)."""

    user: UserView
    token: str
    issued: bool


def os_user_name() -> str:
    """The OS user's login name, as an email's local part ("user" if it has none usable)."""
    try:
        import pwd

        name = pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, AttributeError):  # no pwd (Windows), or no entry
        import getpass

        try:
            name = getpass.getuser()
        except Exception:
            name = ""
    cleaned = _UNSAFE.sub("-", name.strip().lower()).strip("-.")[:64]
    return cleaned or "user"


def local_email(name: str | None = None) -> str:
    """The local account's address: `<OS user>@localhost`."""
    return f"{name or os_user_name()}@{LOCAL_DOMAIN}"


def is_local(email: str) -> bool:
    """True for a local account's address (no registered account can have one)."""
    return email.endswith("@" + LOCAL_DOMAIN)


def _unusable_password(uow: UnitOfWork) -> tuple[str, str]:
    return passwords.register_secrets(secrets.token_urlsafe(24), uow.settings.bcrypt_rounds)


def sign_in(uow: UnitOfWork, stored_token: str | None) -> LocalLogin:
    """The local account, made on first use, and a working token for it: `stored_token`
    when it still authenticates as the local account, else a new API token (no expiry).

    SQLite only (InvalidInput on PostgreSQL, where every caller logs in)."""
    with uow:
        if uow.rows.postgres:
            raise InvalidInput("the local account exists only on the embedded SQLite database")
    if stored_token:
        try:
            user = authenticate(uow, stored_token)
        except AuthRequired:
            pass  # revoked, or the database was replaced: issue a new one below
        else:
            if is_local(user.email):
                return LocalLogin(user, stored_token, issued=False)
    email = local_email()
    with uow:
        found = repo.user(uow.rows, email=email)
    # Nobody knows this password: the account is only used through its token. (The one
    # bcrypt runs outside the transaction.)
    unusable = None if found is not None else _unusable_password(uow)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with uow:
        found = repo.user(uow.rows, email=email)  # again: another command may have made it
        if found is None:
            salt, verifier = unusable or _unusable_password(uow)
            found = repo.insert_user(uow.rows, email, salt, verifier)
            uow.record_event("user.registered", found["id"], local=True)
        repo.insert_token(uow.rows, found["id"], hash_token(token), "api", TOKEN_NAME, None)
        uow.commit()
    user = UserView(id=found["id"], email=found["email"], created_at=found["created_at"])
    return LocalLogin(user, token, issued=True)
