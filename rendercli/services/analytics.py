"""Product analytics: fire-and-forget events that never fail the user's command.

Each batch is written in its own short transaction after the business transaction
committed (rendercli.repositories.events holds the INSERT): a unit of work hands over
the events noted with `record_event` when it commits, and the render worker calls
`record` directly.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rendercli.repositories.events import Event, insert_events

if TYPE_CHECKING:
    from rendercli.db.rows import Rows
    from rendercli.db.session import SessionFactory
    from rendercli.services.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

__all__ = ["Event", "record", "write_events"]


def _end(rows: Rows, commit: bool) -> None:
    """Commit or roll back the transaction of `rows`: its ORM session's, or its
    connection's (the unit of work holds the one or the other)."""
    holder = getattr(rows, "session", None) or getattr(rows, "connection", None)
    if holder is not None:
        holder.commit() if commit else holder.rollback()


def write_events(rows: Rows, events: list[Event]) -> None:
    """Insert events over `rows`, whose last transaction just committed, in a
    transaction of their own; swallow and log any failure."""
    try:
        insert_events(rows, events)
        _end(rows, commit=True)
    except Exception as exc:  # analytics must never break a command
        log.debug("analytics: could not record %s: %s", [e[0] for e in events], exc)
        try:
            _end(rows, commit=False)
        except Exception as again:
            log.debug("analytics: rollback failed: %s", again)


def record(uow: UnitOfWork | SessionFactory | None, name: str, user_id: str | None,
           **properties: Any) -> None:
    """Record one event outside any transaction (e.g. from the render worker); `uow`
    None: the configured database."""
    from rendercli.services.unit_of_work import UnitOfWork

    if not isinstance(uow, UnitOfWork):  # a session factory, from callers not moved yet
        uow = UnitOfWork(uow)
    try:
        with uow:
            write_events(uow.rows, [(name, user_id, properties)])
    except Exception as exc:  # not even a connection: still never break the command
        log.debug("analytics: could not record %s: %s", name, exc)
