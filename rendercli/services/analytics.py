"""Product analytics: fire-and-forget events that never fail the user's command.

Events are written here and only here, each batch in its own short transaction after
the business transaction committed: a unit of work hands over the events noted with
`record_event` when it commits, and the render worker calls `record` directly.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rendercli.db.rows import PgRows, SqliteRows
    from rendercli.db.session import SessionFactory

log = logging.getLogger(__name__)

Event = tuple[str, str | None, dict[str, Any]]


def write_events(sessions: SessionFactory | None, events: list[Event]) -> None:
    """Insert events in their own transaction (on the configured database when
    `sessions` is None); swallow and log any failure."""
    try:
        from rendercli.db.models import AnalyticsEvent

        if sessions is None:
            from rendercli.db.session import default_session_factory

            sessions = default_session_factory()
        with sessions() as session:
            for name, user_id, properties in events:
                session.add(AnalyticsEvent(name=name, user_id=user_id, properties=properties))
            session.commit()
    except Exception as exc:  # analytics must never break a command
        log.debug("analytics: could not record %s: %s", [e[0] for e in events], exc)


# An analytics_events row as the model (AnalyticsEvent) would insert it; a test checks
# these columns against the model's.
EVENT_COLUMNS = ("id", "name", "user_id", "properties", "created_at")
INSERT_EVENT_SQL = (f"INSERT INTO analytics_events ({', '.join(EVENT_COLUMNS)}) "
                    f"VALUES ({', '.join(':' + c for c in EVENT_COLUMNS)})")


def event_row(name: str, user_id: str | None, properties: dict[str, Any]) -> dict[str, Any]:
    """The values of a new analytics_events row (the JSON as SQLAlchemy writes it)."""
    import json

    from rendercli.db.clock import utcnow
    from rendercli.db.ids import new_id

    return {"id": new_id(), "name": name, "user_id": user_id,
            "properties": json.dumps(properties), "created_at": utcnow()}


def write_event_rows(rows: SqliteRows | PgRows, events: list[Event]) -> None:
    """`write_events` over a plain connection whose transaction just committed: the
    events in their own transaction on it; any failure is swallowed and logged."""
    try:
        for name, user_id, properties in events:
            rows.run(INSERT_EVENT_SQL, **event_row(name, user_id, properties))
        rows.commit()
    except Exception as exc:  # analytics must never break a command
        log.debug("analytics: could not record %s: %s", [e[0] for e in events], exc)
        try:
            rows.connection.rollback()
        except Exception as again:
            log.debug("analytics: rollback failed: %s", again)


def record(
    sessions: SessionFactory | None, name: str, user_id: str | None, **properties: Any
) -> None:
    """Record one event outside any unit of work (e.g. from the render worker)."""
    write_events(sessions, [(name, user_id, properties)])
