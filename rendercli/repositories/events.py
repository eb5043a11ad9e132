"""Analytics events (analytics_events), written here and only here."""

from __future__ import annotations

import json
from typing import Any

from rendercli.db.clock import utcnow
from rendercli.db.ids import new_id
from rendercli.db.rows import Rows, insert

Event = tuple[str, str | None, dict[str, Any]]  # name, user id, properties


def event_row(name: str, user_id: str | None, properties: dict[str, Any]) -> dict[str, Any]:
    """The values of a new analytics_events row (the JSON as SQLAlchemy writes it)."""
    return {"id": new_id(), "name": name, "user_id": user_id,
            "properties": json.dumps(properties), "created_at": utcnow()}


def insert_events(rows: Rows, events: list[Event]) -> None:
    for name, user_id, properties in events:
        insert(rows, "analytics_events", event_row(name, user_id, properties))
