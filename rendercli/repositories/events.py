"""Analytics events (analytics_events), written here and only here: fire-and-forget,
each batch in a transaction of its own after the command's committed."""

from __future__ import annotations

import json
import logging
from typing import Any

from rendercli.db.clock import utcnow
from rendercli.db.ids import new_id
from rendercli.db.rows import Rows, insert

log = logging.getLogger("rendercli.services.analytics")

Event = tuple[str, str | None, dict[str, Any]]  # name, user id, properties


def event_row(name: str, user_id: str | None, properties: dict[str, Any]) -> dict[str, Any]:
    """The values of a new analytics_events row (the JSON as SQLAlchemy writes it)."""
    return {"id": new_id(), "name": name, "user_id": user_id,
            "properties": json.dumps(properties), "created_at": utcnow()}


def _end(rows: Rows, commit: bool) -> None:
    """Commit or roll back the transaction of `rows` (a unit of work's connection)."""
    connection = rows.connection  # type: ignore[attr-defined]
    connection.commit() if commit else connection.rollback()


def write_events(rows: Rows, events: list[Event]) -> None:
    """Insert events over `rows`, whose last transaction just committed, in a
    transaction of their own (multi-row INSERTs); swallow and log any failure
    (analytics never breaks a command)."""
    try:
        insert(rows, "analytics_events", *(event_row(*event) for event in events))
        _end(rows, commit=True)
    except Exception as exc:
        log.debug("analytics: could not record %s: %s", [e[0] for e in events], exc)
        try:
            _end(rows, commit=False)
        except Exception as again:
            log.debug("analytics: rollback failed: %s", again)
