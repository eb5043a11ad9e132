"""Accounts, login sessions and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from rendercli.config import get_settings
from rendercli.db.models import AuthToken, User
from rendercli.db.types import utcnow
from rendercli.errors import AuthRequired, Conflict, InvalidInput, NotFound
from rendercli.services import passwords
from rendercli.services.unit_of_work import UnitOfWork

TOKEN_PREFIX = "rcli_"
LAST_USED_RESOLUTION = timedelta(seconds=60)  # don't write on every single command
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LOGIN_FAILED = "incorrect email or password"


@dataclass(frozen=True)
class UserView:
    id: str
    email: str
    created_at: datetime


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


def _user_view(user: User) -> UserView:
    return UserView(id=user.id, email=user.email, created_at=user.created_at)


def _token_view(token: AuthToken) -> TokenView:
    return TokenView(
        id=token.id,
        name=token.name,
        kind=token.kind,
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalize_email(email: str) -> str:
    """Trim and lower-case an email address, or raise InvalidInput."""
    email = email.strip().lower()
    if not email:
        raise InvalidInput("email is required")
    if len(email) > 320 or not EMAIL_RE.match(email):
        raise InvalidInput(f"not a valid email address: {email!r}")
    return email


def register(uow: UnitOfWork, email: str, password: str) -> UserView:
    """Create an account. Raises Conflict if the email (case-insensitive) is taken."""
    email = normalize_email(email)
    password_hash = passwords.hash_password(password, get_settings().bcrypt_rounds)
    with uow:
        user = User(email=email, password_hash=password_hash)
        uow.session.add(user)
        try:
            uow.session.flush()
        except IntegrityError:
            raise Conflict(f"an account with email {email} already exists") from None
        uow.record_event("user.registered", user.id)
        uow.commit()
        return _user_view(user)


def _issue(
    uow: UnitOfWork, user: User, kind: str, name: str, expires_at: datetime | None
) -> IssuedToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)  # 256 bits of randomness
    row = AuthToken(
        user_id=user.id, token_hash=hash_token(token), kind=kind, name=name, expires_at=expires_at
    )
    uow.session.add(row)
    uow.session.flush()
    return IssuedToken(
        token=token, id=row.id, name=name, expires_at=expires_at, user=_user_view(user)
    )


def login(uow: UnitOfWork, email: str, password: str, *, session_name: str) -> IssuedToken:
    """Check the password and issue a session token that expires after the configured days.

    An unknown email and a wrong password fail the same way, in the same time.
    """
    settings = get_settings()
    try:
        email = normalize_email(email)
    except InvalidInput:
        email = ""
    with uow:
        user = uow.session.scalars(select(User).where(User.email == email)).first()
        if user is None:
            passwords.verify_password(password, passwords.dummy_hash(settings.bcrypt_rounds))
            raise AuthRequired(LOGIN_FAILED)
        if not passwords.verify_password(password, user.password_hash):
            raise AuthRequired(LOGIN_FAILED)
        issued = _issue(
            uow, user, "session", session_name, utcnow() + timedelta(days=settings.token_days)
        )
        uow.record_event("user.logged_in", user.id)
        uow.commit()
        return issued


def start_session(uow: UnitOfWork, user_id: str, name: str, lifetime: timedelta) -> IssuedToken:
    """Issue a login session for a user without a password check (trusted callers only,
    such as `rendercli demo` for its own demo account)."""
    with uow:
        user = uow.session.get(User, user_id)
        if user is None:
            raise NotFound(f"user not found: {user_id}")
        issued = _issue(uow, user, "session", name, utcnow() + lifetime)
        uow.record_event("user.logged_in", user_id, via=name)
        uow.commit()
        return issued


def _active_token(uow: UnitOfWork, token: str) -> AuthToken:
    row = uow.session.scalars(
        select(AuthToken).where(AuthToken.token_hash == hash_token(token))
    ).first()
    if row is None:
        raise AuthRequired("the token is not valid for this database: run `rendercli login`")
    if row.revoked_at is not None:
        if row.kind == "api":
            raise AuthRequired(
                f"the API token {row.name!r} was revoked: create a new one with "
                "`rendercli token create` where you are logged in"
            )
        raise AuthRequired(
            "this login session was revoked (logged out, or the password was changed): "
            "run `rendercli login`"
        )
    now = utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        when = row.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        raise AuthRequired(f"this session expired on {when}: run `rendercli login`")
    return row


def authenticate(uow: UnitOfWork, token: str) -> UserView:
    """The user a token belongs to. Raises AuthRequired if unknown, revoked or expired."""
    with uow:
        row = _active_token(uow, token)
        user = uow.session.get(User, row.user_id)
        assert user is not None  # the foreign key cascades
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
            row.last_used_at = now
            uow.commit()
        return _user_view(user)


def logout(uow: UnitOfWork, token: str, *, all_sessions: bool = False) -> int:
    """Revoke this login session (or, with all_sessions, every login session of the user).
    API tokens are never revoked here (see `revoke_token`). Returns the count revoked."""
    with uow:
        row = _active_token(uow, token)
        if row.kind == "api" and not all_sessions:
            raise InvalidInput(
                f"the token in use is the API token {row.name!r}, which logout does not "
                f"revoke: use `rendercli token revoke {row.id}`"
            )
        now = utcnow()
        if all_sessions:
            result = uow.session.execute(
                update(AuthToken)
                .where(AuthToken.user_id == row.user_id, AuthToken.revoked_at.is_(None))
                .where(AuthToken.kind == "session")
                .values(revoked_at=now)
            )
            count = result.rowcount or 0
        else:
            row.revoked_at = now
            count = 1
        uow.commit()
        return count


@dataclass(frozen=True)
class PasswordChange:
    sessions_revoked: int  # the user's other login sessions, on every machine
    api_tokens_kept: int  # active API tokens, which keep working


def change_password(uow: UnitOfWork, token: str, current: str, new: str) -> PasswordChange:
    """Change the password of the token's user, who must give the current one (AuthRequired
    if wrong). Every other login session is revoked; the one in use stays, and so do API
    tokens (CI keeps working; revoke those with `revoke_token`)."""
    passwords.check_password_rule(new)  # before any bcrypt work
    with uow:
        row = _active_token(uow, token)
        user = uow.session.get(User, row.user_id)
        assert user is not None  # the foreign key cascades
        if not passwords.verify_password(current, user.password_hash):
            raise AuthRequired("the current password is incorrect")
        if new == current:
            raise InvalidInput("the new password is the same as the current one")
        user.password_hash = passwords.hash_password(new, get_settings().bcrypt_rounds)
        now = utcnow()
        active = (
            (AuthToken.user_id == user.id)
            & AuthToken.revoked_at.is_(None)
            & (AuthToken.expires_at.is_(None) | (AuthToken.expires_at > now))
        )
        revoked = uow.session.execute(
            update(AuthToken)
            .where(active, AuthToken.kind == "session", AuthToken.id != row.id)
            .values(revoked_at=now)
        )
        kept = uow.session.scalar(
            select(func.count()).select_from(AuthToken).where(active, AuthToken.kind == "api")
        )
        uow.record_event("user.password_changed", user.id)
        uow.commit()
        return PasswordChange(sessions_revoked=revoked.rowcount or 0, api_tokens_kept=kept or 0)


def create_api_token(
    uow: UnitOfWork, user_id: str, name: str, expires_in_days: int | None
) -> IssuedToken:
    """Issue a long-lived token for CI (RENDERCLI_TOKEN). None means it never expires."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("token name must be 1 to 100 characters")
    if any(not ch.isprintable() for ch in name):  # ESC, newline, DEL, C1: as project names
        raise InvalidInput("token name must not contain control characters")
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        raise InvalidInput("--expires-in must be between 1 and 3650 days")
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    with uow:
        user = uow.session.get(User, user_id)
        if user is None:
            raise AuthRequired("your account no longer exists")
        issued = _issue(uow, user, "api", name, expires_at)
        uow.record_event("token.created", user_id, expires_in_days=expires_in_days)
        uow.commit()
        return issued


def list_tokens(
    uow: UnitOfWork, user_id: str, *, include_inactive: bool = False
) -> list[TokenView]:
    """The user's sessions and API tokens, newest first (active ones unless include_inactive)."""
    with uow:
        query = select(AuthToken).where(AuthToken.user_id == user_id)
        if not include_inactive:
            query = query.where(AuthToken.revoked_at.is_(None)).where(
                (AuthToken.expires_at.is_(None)) | (AuthToken.expires_at > utcnow())
            )
        rows = uow.session.scalars(query.order_by(AuthToken.created_at.desc())).all()
        return [_token_view(r) for r in rows]


def revoke_token(uow: UnitOfWork, user_id: str, token_id: str) -> TokenView:
    """Revoke one of the user's own tokens by id. Someone else's is "not found"."""
    with uow:
        row = uow.session.scalars(
            select(AuthToken).where(AuthToken.id == token_id, AuthToken.user_id == user_id)
        ).first()
        if row is None:
            raise NotFound(f"token not found: {token_id}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        uow.commit()
        return _token_view(row)
