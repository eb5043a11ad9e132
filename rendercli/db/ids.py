"""Object ids: cuid2 strings, never sequential integers."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# What new_id() makes: a lowercase letter, then lowercase letters and digits (at most 32
# characters in all). Checked before an id from the database or Redis is used in a file
# name or a job call; the database refuses any other id (`id_check`, migration 0009).
_ID_RE = re.compile(r"[a-z][a-z0-9]{0,31}")


@lru_cache(maxsize=1)
def _generator() -> Any:
    from cuid2 import Cuid

    return Cuid(length=24)


def new_id() -> str:
    return str(_generator().generate())


def is_valid_id(value: object) -> bool:
    """True if ``value`` has the shape of an id new_id() makes (cuid2)."""
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def id_check(column: str, dialect: str) -> str:
    """The SQL CHECK that an id column has this shape (NULL passes), as migration 0009
    adds it: PostgreSQL regex and SQLite GLOB ranges are by code point on both."""
    if dialect == "postgresql":
        return f"{column} ~ '^[a-z][a-z0-9]{{0,31}}$'"
    return (f"{column} GLOB '[a-z]*' AND {column} NOT GLOB '*[^a-z0-9]*' "
            f"AND length({column}) <= 32")
