"""Product analytics: fire-and-forget events that never fail the user's command."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def write_events(database_url: str, events: list[tuple[str, str | None, dict[str, Any]]]) -> None:
    """Insert events in their own short transaction; swallow and log any failure."""
    try:
        from rendercli.db.engine import get_session_factory
        from rendercli.db.models import AnalyticsEvent

        with get_session_factory(database_url)() as session:
            for name, user_id, properties in events:
                session.add(AnalyticsEvent(name=name, user_id=user_id, properties=properties))
            session.commit()
    except Exception as exc:  # analytics must never break a command
        log.debug("analytics: could not record %s: %s", [e[0] for e in events], exc)


def record(database_url: str, name: str, user_id: str | None, **properties: Any) -> None:
    """Record one event outside any unit of work (e.g. from the render worker)."""
    write_events(database_url, [(name, user_id, properties)])
