"""Password rules and the bcrypt login proof scheme (the same on SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import re

from rendercli.errors import InvalidInput

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72  # bcrypt ignores everything after 72 bytes; we refuse instead


def check_password_rule(password: str) -> bytes:
    """Return the UTF-8 bytes of an acceptable password, or raise InvalidInput."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"password is too short: use at least {MIN_PASSWORD_CHARS} characters")
    encoded = password.encode("utf-8")
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise InvalidInput(
            f"password is too long: {len(encoded)} bytes in UTF-8, the limit is "
            f"{MAX_PASSWORD_BYTES} bytes"
        )
    return encoded


# The login proof scheme, the same on SQLite and PostgreSQL. An account stores its bcrypt
# salt (with the cost) and a verifier, SHA-256(bcrypt(password, salt)). To log in, the
# client fetches the salt, computes the proof bcrypt(password, salt) itself, and the
# database compares SHA-256(proof) with the verifier. The database never sees the password,
# and nothing it stores can be replayed: the verifier is not the proof.
SALT_RE = re.compile(r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{21}[.Oeu]$")
BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
MAX_PROOF_COST = 16  # a salt asking for more is refused (a hostile row must not hang logins)


def new_salt(rounds: int) -> str:
    """A fresh bcrypt salt string ("$2b$12$" + 22 characters)."""
    import bcrypt

    return bcrypt.gensalt(rounds).decode("ascii")


def proof(password: str, salt: str) -> str | None:
    """bcrypt(password, salt), computed exactly once whatever happens, so an unknown
    email, a wrong password and an over-long one all cost the same. None: cannot match."""
    import bcrypt

    if not SALT_RE.match(salt) or int(salt[4:6]) > MAX_PROOF_COST:
        return None
    encoded = password.encode("utf-8")
    if len(encoded) > MAX_PASSWORD_BYTES:
        bcrypt.hashpw(b"x", salt.encode("ascii"))  # same time as a real check
        return None
    return bcrypt.hashpw(encoded, salt.encode("ascii")).decode("ascii")


def verifier(proof_value: str) -> str:
    """What the database stores: SHA-256 (hex) of the proof."""
    return hashlib.sha256(proof_value.encode("ascii")).hexdigest()


def register_secrets(password: str, rounds: int) -> tuple[str, str]:
    """(salt, verifier) for a new password (checked against the password rule)."""
    check_password_rule(password)
    salt = new_salt(rounds)
    value = proof(password, salt)
    assert value is not None
    return salt, verifier(value)


def fake_salt(hmac_key_hex: str, cost: int, email: str) -> str:
    """A stable salt for an email with no account, shaped exactly like a real one.

    Derived by HMAC-SHA256 of the email under a secret key, so it is the same on every
    call (a changing salt would give unknown emails away) and nobody can predict it. The
    PostgreSQL function rendercli_login_salt computes the same value.
    """
    digest = hmac.new(bytes.fromhex(hmac_key_hex), email.encode("utf-8"), "sha256").digest()
    body = "".join(BCRYPT_ALPHABET[b % 64] for b in digest[:21]) + ".Oeu"[digest[21] % 4]
    return f"$2b${cost:02d}${body}"
