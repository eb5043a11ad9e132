"""The one clock: timezone-aware UTC now (no SQLAlchemy here, so read paths stay light)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
