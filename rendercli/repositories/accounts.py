"""Accounts and their tokens (users, auth_tokens, login_secrets), in plain SQL.

On PostgreSQL clients change these rows only through the definer functions of
migration 0002 (rendercli.services.accounts calls them); the writes here serve the
embedded SQLite database. Token hashes are never read back to a caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rendercli.db.clock import utcnow
from rendercli.db.ids import new_id
from rendercli.db.rows import Rows, as_datetime, insert

# The token with its account; whether it is live is decided in identity.live_token().
_TOKEN_SQL = (
    "SELECT t.id, t.user_id, t.kind, t.name, t.expires_at, t.revoked_at, t.last_used_at, "
    "u.email, u.created_at AS user_created_at "
    "FROM auth_tokens AS t JOIN users AS u ON u.id = t.user_id WHERE t.token_hash = :token_hash"
)
_TOKEN_VIEW = "id, name, kind, created_at, expires_at, last_used_at, revoked_at"
_TIMES = ("created_at", "expires_at", "last_used_at", "revoked_at", "user_created_at")


def timed(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """The row with its timestamps as aware UTC datetimes."""
    if row is not None:
        row.update({k: as_datetime(row[k]) for k in _TIMES if k in row})
    return row


def user(rows: Rows, *, user_id: str | None = None, email: str | None = None,
         password: bool = False) -> dict[str, Any] | None:
    """The account with this id or email (id, email, created_at; with `password`, its
    salt and verifier too, which the client role on PostgreSQL may not read), or None."""
    column, value = ("id", user_id) if user_id is not None else ("email", email)
    secrets = ", password_salt, password_verifier" if password else ""
    return timed(rows.one(f"SELECT id, email, created_at{secrets} FROM users "
                          f"WHERE {column} = :value", value=value))


def insert_user(rows: Rows, email: str, salt: str, verifier: str) -> dict[str, Any]:
    """A new account (id, email, created_at); a taken email breaks the unique constraint."""
    row = {"id": new_id(), "email": email, "created_at": utcnow()}
    insert(rows, "users", {**row, "password_salt": salt, "password_verifier": verifier})
    return row


def set_password(rows: Rows, user_id: str, salt: str, verifier: str) -> None:
    rows.run("UPDATE users SET password_salt = :salt, password_verifier = :verifier "
             "WHERE id = :id", salt=salt, verifier=verifier, id=user_id)


def login_secret_key(rows: Rows) -> str:
    """The key that derives fake salts for unknown emails (written by migration 0002)."""
    key = rows.scalar("SELECT hmac_key FROM login_secrets WHERE id = 1")
    assert key is not None
    return str(key)


def insert_token(rows: Rows, user_id: str, token_hash: str, kind: str, name: str,
                 expires_at: datetime | None) -> str:
    """A new session ("session") or API token ("api"); returns its id."""
    token_id = new_id()
    insert(rows, "auth_tokens", {"id": token_id, "user_id": user_id, "token_hash": token_hash,
                                 "kind": kind, "name": name, "created_at": utcnow(),
                                 "expires_at": expires_at, "last_used_at": None,
                                 "revoked_at": None})
    return token_id


def token_by_hash(rows: Rows, token_hash: str) -> dict[str, Any] | None:
    """The token with this hash and its account's email and created_at, or None."""
    return timed(rows.one(_TOKEN_SQL, token_hash=token_hash))


def touch_token(rows: Rows, token_id: str, now: datetime) -> None:
    rows.run("UPDATE auth_tokens SET last_used_at = :now WHERE id = :id", now=now, id=token_id)


def revoke_sessions(rows: Rows, user_id: str, now: datetime, *,
                    only: str | None = None, keep: str | None = None) -> int:
    """Revoke the user's live login sessions (`only` that one; never `keep`); API tokens
    are never touched here. Returns how many were revoked."""
    sql = ("UPDATE auth_tokens SET revoked_at = :now WHERE user_id = :user_id "
           "AND kind = 'session' AND revoked_at IS NULL")
    if only is not None:
        sql += " AND id = :only"
    if keep is not None:
        sql += " AND id <> :keep"
    return rows.run(sql, now=now, user_id=user_id, only=only, keep=keep)


def tokens_of(rows: Rows, user_id: str, *, live_at: datetime | None) -> list[dict[str, Any]]:
    """The user's tokens (never their hashes), newest first: those not revoked nor
    expired at `live_at`, or all when it is None."""
    sql = f"SELECT {_TOKEN_VIEW} FROM auth_tokens WHERE user_id = :user_id"
    if live_at is not None:
        sql += " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > :at)"
    found = rows.all(sql + " ORDER BY created_at DESC", user_id=user_id, at=live_at)
    return [timed(row) for row in found]  # type: ignore[misc]


def revoke_token(rows: Rows, user_id: str, token_id: str, now: datetime
                 ) -> dict[str, Any] | None:
    """Revoke one of the user's own tokens (kept as it is if already revoked); None when
    the user has no token with that id."""
    rows.run("UPDATE auth_tokens SET revoked_at = :now WHERE id = :id AND user_id = :user_id "
             "AND revoked_at IS NULL", now=now, id=token_id, user_id=user_id)
    return timed(rows.one(f"SELECT {_TOKEN_VIEW} FROM auth_tokens "
                           "WHERE id = :id AND user_id = :user_id", id=token_id, user_id=user_id))
