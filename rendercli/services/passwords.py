"""Password rules and bcrypt hashing."""

from __future__ import annotations

from rendercli.errors import InvalidInput

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72  # bcrypt ignores everything after 72 bytes; we refuse instead
MIN_ROUNDS, MAX_ROUNDS = 4, 31  # what bcrypt accepts as a cost

# A fixed salt and checksum (53 characters of bcrypt's base64); login fails whatever it says.
# With the configured cost in front it is a well-formed hash, so checking a password
# against it costs exactly one bcrypt computation of that cost, like a real account's,
# and nothing else: no hashpw to make it first.
_DUMMY_SALT_AND_CHECKSUM = "U0ayxryVDeCGv7x9PTH0G.SLxsrnBf4iJV3JNI2wK1IihfMAHF4o2"


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


def dummy_hash(rounds: int) -> str:
    """A hash of cost `rounds` to verify against when the email is unknown, so an
    unknown email costs the same single bcrypt check as a wrong password."""
    if not MIN_ROUNDS <= rounds <= MAX_ROUNDS:
        raise ValueError(f"bcrypt cost must be {MIN_ROUNDS}-{MAX_ROUNDS}, got {rounds}")
    return f"$2b${rounds:02d}${_DUMMY_SALT_AND_CHECKSUM}"
