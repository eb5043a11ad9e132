"""Accounts, login sessions and API tokens."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rendercli.db.clock import utcnow
from rendercli.db.rows import integrity_error
from rendercli.errors import AuthRequired, Conflict, InvalidInput, NotFound
from rendercli.repositories import accounts as repo
from rendercli.repositories import prefixes
from rendercli.services import passwords
from rendercli.services.identity import (
    UserView,
    authenticate,
    call_definer,
    checked_on_postgres,
    hash_token,
    live_token,
)
from rendercli.services.unit_of_work import UnitOfWork

__all__ = ["UserView", "authenticate", "hash_token"]  # re-exported: callers import them here

TOKEN_PREFIX = "rcli_"

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LOGIN_FAILED = "incorrect email or password"


@dataclass(frozen=True)
class TokenView:
    id: str
    name: str
    kind: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued secret. `token` is shown once and never stored server-side."""

    token: str
    id: str
    name: str
    expires_at: datetime | None
    user: UserView


def _user_view(row: dict[str, Any]) -> UserView:
    return UserView(id=row["id"], email=row["email"], created_at=row["created_at"])


def _token_view(row: dict[str, Any]) -> TokenView:
    return TokenView(**{name: row[name] for name in TokenView.__dataclass_fields__})


def normalize_email(email: str) -> str:
    """Trim and lower-case an email address, or raise InvalidInput."""
    email = email.strip().lower()
    if not email:
        raise InvalidInput("email is required")
    if len(email) > 320 or not EMAIL_RE.match(email):
        raise InvalidInput(f"not a valid email address: {email!r}")
    return email


# On PostgreSQL (`uow.rows.postgres`) accounts and tokens change only through the definer
# functions of migration 0002, which enforce the same rules for callers that skip this code.
_call = call_definer


def _bcrypt_cost(uow: UnitOfWork) -> int:
    """The cost of new passwords: the database's on PostgreSQL (recorded by `db upgrade`,
    so every account and every fake salt has it), RENDERCLI_BCRYPT_ROUNDS on SQLite."""
    if uow.rows.postgres:
        return int(uow.rows.scalar("SELECT rendercli_bcrypt_cost()"))
    return uow.settings.bcrypt_rounds


def login_salt(uow: UnitOfWork, email: str) -> str:
    """The bcrypt salt of an account, or a stable fake one shaped the same for an email
    without an account (so the answer never tells which emails exist)."""
    if uow.rows.postgres:
        return str(_call(uow, "SELECT rendercli_login_salt(:e) AS v", e=email)[0]["v"])
    user = repo.user(uow.rows, email=email, password=True)
    if user is not None:
        return str(user["password_salt"])
    key = repo.login_secret_key(uow.rows)
    return passwords.fake_salt(key, uow.settings.bcrypt_rounds, email)


def register(uow: UnitOfWork, email: str, password: str) -> UserView:
    """Create an account. Raises Conflict if the email (case-insensitive) is taken."""
    email = normalize_email(email)
    passwords.check_password_rule(password)
    with uow:
        cost = _bcrypt_cost(uow)
    salt, verifier = passwords.register_secrets(password, cost)
    taken = Conflict(f"an account with email {email} already exists")
    with uow:
        if uow.rows.postgres:
            try:
                [row] = _call(uow, "SELECT * FROM rendercli_register(:e, :s, :v)",
                              e=email, s=salt, v=verifier)
            except Conflict:
                raise taken from None
            uow.commit()  # the function recorded user.registered
            return _user_view(row)
        try:
            user = repo.insert_user(uow.rows, email, salt, verifier)
        except Exception as exc:
            if integrity_error(exc):
                raise taken from None
            raise
        uow.record_event("user.registered", user["id"])
        uow.commit()
        return _user_view(user)


def _issue(
    uow: UnitOfWork, user: dict[str, Any], kind: str, name: str, expires_at: datetime | None
) -> IssuedToken:
    """SQLite: a new token for the account `user` (the secret is returned, its hash kept)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)  # 256 bits of randomness
    token_id = repo.insert_token(uow.rows, user["id"], hash_token(token), kind, name, expires_at)
    return IssuedToken(
        token=token, id=token_id, name=name, expires_at=expires_at, user=_user_view(user)
    )


def login(uow: UnitOfWork, email: str, password: str, *, session_name: str) -> IssuedToken:
    """Check the password and issue a session token that expires after the configured days.

    The client fetches the account's salt and computes the proof bcrypt(password, salt)
    itself; the database only compares SHA-256 of the proof with its verifier. An unknown
    email gets a fake salt of the same cost, so it costs exactly the one bcrypt a wrong
    password costs, and fails the same way.
    """
    settings = uow.settings
    try:
        email = normalize_email(email)
    except InvalidInput:
        email = ""
    with uow:
        salt = login_salt(uow, email)
    proof = passwords.proof(password, salt)  # the one bcrypt, outside any transaction
    with uow:
        if uow.rows.postgres:
            found = _call(uow, "SELECT * FROM rendercli_login(:e, :p, :n, :d)",
                          e=email, p=proof or "!", n=session_name, d=settings.token_days)
            if not found:
                raise AuthRequired(LOGIN_FAILED)
            uow.commit()  # the function recorded user.logged_in
            row = found[0]
            return IssuedToken(
                token=row["token"], id=row["token_id"], name=session_name,
                expires_at=row["expires_at"], user=UserView(
                    id=row["user_id"], email=row["email"], created_at=row["user_created_at"]))
        user = repo.user(uow.rows, email=email, password=True)
        if user is None or proof is None or not hmac.compare_digest(
            passwords.verifier(proof), user["password_verifier"]
        ):
            raise AuthRequired(LOGIN_FAILED)
        issued = _issue(
            uow, user, "session", session_name, utcnow() + timedelta(days=settings.token_days)
        )
        uow.record_event("user.logged_in", user["id"])
        uow.commit()
        return issued


def start_session(uow: UnitOfWork, user_id: str, name: str, lifetime: timedelta) -> IssuedToken:
    """Issue a login session for a user without a password check (trusted callers only,
    such as `rendercli demo` for its own demo account). SQLite only: on PostgreSQL no
    client may start a session without the password."""
    with uow:
        if uow.rows.postgres:
            raise InvalidInput("sessions without a password exist only on the embedded database")
        user = repo.user(uow.rows, user_id=user_id)
        if user is None:
            raise NotFound(f"user not found: {user_id}")
        issued = _issue(uow, user, "session", name, utcnow() + lifetime)
        uow.record_event("user.logged_in", user_id, via=name)
        uow.commit()
        return issued


def _api_token_refused(name: str, token_id: str) -> InvalidInput:
    return InvalidInput(
        f"the token in use is the API token {name!r}, which logout does not "
        f"revoke: use `rendercli token revoke {token_id}`"
    )


def logout(uow: UnitOfWork, token: str, *, all_sessions: bool = False) -> int:
    """Revoke this login session (or, with all_sessions, every login session of the user).
    API tokens are never revoked here (see `revoke_token`). Returns the count revoked."""
    with uow:
        if uow.rows.postgres:
            pg = checked_on_postgres(uow, token)
            if pg.kind == "api" and not all_sessions:
                raise _api_token_refused(pg.name, pg.token_id)
            count = int(_call(uow, "SELECT rendercli_logout(:t, :a) AS v", t=token,
                              a=all_sessions)[0]["v"])
            uow.commit()
            return count
        row = live_token(uow.rows, token)
        if row["kind"] == "api" and not all_sessions:
            raise _api_token_refused(row["name"], row["id"])
        count = repo.revoke_sessions(uow.rows, row["user_id"], utcnow(),
                                     only=None if all_sessions else row["id"])
        uow.commit()
        return count


@dataclass(frozen=True)
class PasswordChange:
    sessions_revoked: int  # the user's other login sessions, on every machine
    api_tokens_kept: int  # active API tokens, which keep working


def create_api_token(
    uow: UnitOfWork, user_id: str, name: str, expires_in_days: int | None
) -> IssuedToken:
    """Issue a long-lived token for CI (RENDERCLI_TOKEN). None means it never expires.
    On PostgreSQL the token is issued to the caller of the transaction (see authenticate)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("token name must be 1 to 100 characters")
    if any(not ch.isprintable() for ch in name):  # ESC, newline, DEL, C1: as project names
        raise InvalidInput("token name must not contain control characters")
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        raise InvalidInput("--expires-in must be between 1 and 3650 days")
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    with uow:
        user = repo.user(uow.rows, user_id=user_id)
        if user is None:
            raise AuthRequired("your account no longer exists")
        if uow.rows.postgres:
            [row] = _call(uow, "SELECT * FROM rendercli_create_token(:n, :d)",
                          n=name, d=expires_in_days)
            uow.commit()  # the function recorded token.created
            return IssuedToken(token=row["token"], id=row["token_id"], name=name,
                               expires_at=row["expires_at"], user=_user_view(user))
        issued = _issue(uow, user, "api", name, expires_at)
        uow.record_event("token.created", user_id, expires_in_days=expires_in_days)
        uow.commit()
        return issued


def list_tokens(
    uow: UnitOfWork, user_id: str, *, include_inactive: bool = False
) -> list[TokenView]:
    """The user's sessions and API tokens, newest first (active ones unless include_inactive).
    Never the hashes: the client role may not even read that column."""
    with uow:
        found = repo.tokens_of(uow.rows, user_id,
                               live_at=None if include_inactive else utcnow())
        return [_token_view(row) for row in found]


def revoke_token(uow: UnitOfWork, user_id: str, token_id: str) -> TokenView:
    """Revoke one of the user's own tokens by id. Someone else's is "not found"."""
    with uow:
        token_id = prefixes.full_id(uow.rows, "token", user_id, token_id)
        if uow.rows.postgres:
            found = _call(uow, "SELECT * FROM rendercli_revoke_token(:i)", i=token_id)
            row = found[0] if found else None
        else:
            row = repo.revoke_token(uow.rows, user_id, token_id, utcnow())
        if row is None:
            raise NotFound(f"token not found: {token_id}")
        uow.commit()
        return _token_view(row)


def change_password(uow: UnitOfWork, token: str, current: str, new: str) -> PasswordChange:
    """Change the password of the token's user, who must give the current one (AuthRequired
    if wrong). Every other login session is revoked; the one in use stays, and so do API
    tokens (CI keeps working; revoke those with `revoke_token`). The same login proofs as
    `login`: the database never sees either password."""
    passwords.check_password_rule(new)  # before any bcrypt work
    if new == current:
        raise InvalidInput("the new password is the same as the current one")
    user = authenticate(uow, token)
    uow = uow.acting_as(token)
    with uow:
        salt = login_salt(uow, user.email)
        cost = _bcrypt_cost(uow)
        in_use = (checked_on_postgres(uow, token).token_id if uow.rows.postgres
                  else live_token(uow.rows, token)["id"])
    others = [t for t in list_tokens(uow, user.id) if t.id != in_use]
    old_proof = passwords.proof(current, salt)
    new_salt, new_verifier = passwords.register_secrets(new, cost)
    wrong = AuthRequired("the current password is incorrect")
    with uow:
        if uow.rows.postgres:
            changed = _call(uow, "SELECT rendercli_change_password(:o, :s, :v) AS v",
                            o=old_proof or "!", s=new_salt, v=new_verifier)[0]["v"]
            if not changed:
                raise wrong
        else:
            row = repo.user(uow.rows, user_id=user.id, password=True)
            if row is None or old_proof is None or not hmac.compare_digest(
                passwords.verifier(old_proof), row["password_verifier"]
            ):
                raise wrong
            repo.set_password(uow.rows, user.id, new_salt, new_verifier)
            repo.revoke_sessions(uow.rows, user.id, utcnow(), keep=in_use)
        uow.record_event("user.password_changed", user.id)
        uow.commit()
    return PasswordChange(
        sessions_revoked=sum(t.kind == "session" for t in others),
        api_tokens_kept=sum(t.kind == "api" for t in others),
    )
