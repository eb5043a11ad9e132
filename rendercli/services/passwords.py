"""Password rules and bcrypt hashing."""

from __future__ import annotations

from functools import lru_cache

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


def hash_password(password: str, rounds: int) -> str:
    import bcrypt

    return bcrypt.hashpw(check_password_rule(password), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """Constant-time check. Over-long input simply does not match (never truncated)."""
    import bcrypt

    encoded = password.encode("utf-8")
    if len(encoded) > MAX_PASSWORD_BYTES:
        # Still spend the same time as a real check, then fail.
        bcrypt.checkpw(b"x", password_hash.encode("ascii"))
        return False
    return bcrypt.checkpw(encoded, password_hash.encode("ascii"))


@lru_cache(maxsize=4)
def dummy_hash(rounds: int) -> str:
    """A hash to verify against when the email is unknown, so timing reveals nothing."""
    return hash_password("dummy-password-for-timing", rounds)
