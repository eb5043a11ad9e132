"""Who is calling: a token in, the account out (every command starts here).

Kept free of SQLAlchemy so the commands people run most answer quickly: on the embedded
SQLite default the token is checked with plain SQL (rendercli.db.rows); on PostgreSQL a
SECURITY DEFINER function checks it (see rendercli.services.accounts), because the client
role may not read token hashes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rendercli.db.clock import utcnow
from rendercli.db.rows import Rows
from rendercli.errors import AuthRequired, Conflict, InvalidInput
from rendercli.repositories import accounts as repo

if TYPE_CHECKING:
    from rendercli.services.unit_of_work import UnitOfWork

LAST_USED_RESOLUTION = timedelta(seconds=60)  # don't write on every single command
INVALID_TOKEN = "the token is not valid for this database: run `rendercli login`"


@dataclass(frozen=True)
class UserView:
    id: str
    email: str
    created_at: datetime


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def expired(expires_at: datetime) -> AuthRequired:
    when = expires_at.strftime("%Y-%m-%d %H:%M UTC")
    return AuthRequired(f"this session expired on {when}: run `rendercli login`")


def revoked(kind: str, name: str) -> AuthRequired:
    """Say which was revoked: an API token (CI) or a login session."""
    if kind == "api":
        return AuthRequired(
            f"the API token {name!r} was revoked: create a new one with "
            "`rendercli token create` where you are logged in"
        )
    return AuthRequired(
        "this login session was revoked (logged out, or the password was changed): "
        "run `rendercli login`"
    )


def live_token(rows: Rows, token: str) -> dict[str, Any]:
    """The token's row (with its account's email), if it is known, not revoked and not
    expired; AuthRequired saying which otherwise. SQLite only (see the module docstring)."""
    row = repo.token_by_hash(rows, hash_token(token))
    if row is None:
        raise AuthRequired(INVALID_TOKEN)
    if row["revoked_at"] is not None:
        raise revoked(row["kind"], row["name"])
    expires_at = row["expires_at"]
    if expires_at is not None and expires_at <= utcnow():
        raise expired(expires_at)
    return row


def definer_error(exc: BaseException) -> Exception | None:
    """Our error for a definer function's SQLSTATE (psycopg's error, bare or wrapped by
    SQLAlchemy), or None when it is not one of theirs."""
    orig = getattr(exc, "orig", None) or exc
    state = getattr(orig, "sqlstate", None)
    message = str(getattr(getattr(orig, "diag", None), "message_primary", "") or exc)
    if state == "23505":
        return Conflict(message)
    if state == "22023":
        return InvalidInput(message)
    if state == "28000":
        return AuthRequired("your session is no longer valid: run `rendercli login`")
    return None


def call_definer(uow: UnitOfWork, sql: str, **params: object) -> list[dict[str, Any]]:
    """PostgreSQL: run a definer function over `uow.rows`, its rows back (timestamps in
    UTC, whatever the server's zone); its SQLSTATEs become our errors."""
    try:
        return [repo.timed(row) for row in uow.rows.all(sql, **params)]  # type: ignore[misc]
    except Exception as exc:
        mapped = definer_error(exc)
        if mapped is not None:
            raise mapped from None
        raise


def checked_on_postgres(uow: UnitOfWork, token: str) -> Any:
    """PostgreSQL: the definer function's verdict on a token (the same rules and messages
    as live_token on SQLite)."""
    from types import SimpleNamespace

    found = call_definer(uow, "SELECT * FROM rendercli_authenticate(:t)", t=token)
    if not found:
        raise AuthRequired(INVALID_TOKEN)
    row = SimpleNamespace(**found[0])
    if row.status == "revoked":
        raise revoked(row.kind, row.name)
    if row.status == "expired":
        raise expired(row.expires_at)
    return row


def authenticate(uow: UnitOfWork, token: str) -> UserView:
    """The user a token belongs to. Raises AuthRequired if unknown, revoked or expired.

    The caller then acts as that user by making units of work with the token
    (rendercli.app.App.acting_as): on PostgreSQL every transaction carries it, and
    row-level security shows only that user's rows.
    """
    with uow:
        rows = uow.rows
        if rows.postgres:
            pg = checked_on_postgres(uow, token)
            uow.commit()  # last_used_at
            return UserView(id=pg.user_id, email=pg.email, created_at=pg.user_created_at)
        row = live_token(rows, token)
        now = utcnow()
        last_used = row["last_used_at"]
        if last_used is None or now - last_used > LAST_USED_RESOLUTION:
            repo.touch_token(rows, row["id"], now)
            uow.commit()
        return UserView(id=row["user_id"], email=row["email"], created_at=row["user_created_at"])
