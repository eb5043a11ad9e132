"""Product analytics: fire-and-forget events that never fail the user's command.

A unit of work hands the events noted with `record_event` to
`rendercli.repositories.events.write_events` when it commits (the one place events are
written); the render worker calls `record` directly.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rendercli.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from rendercli.db.session import SessionFactory

log = logging.getLogger(__name__)


def record(uow: UnitOfWork | SessionFactory | None, name: str, user_id: str | None,
           **properties: Any) -> None:
    """Record one event outside any transaction (e.g. from the render worker); `uow`
    None: the configured database; a session factory: its database (callers not moved
    to a unit of work yet)."""
    if not isinstance(uow, UnitOfWork):
        uow = UnitOfWork(uow)
    try:
        with uow:
            uow.record_event(name, user_id, **properties)
            uow.commit()  # writes the event, swallowing any failure
    except Exception as exc:  # not even a connection: still never break the command
        log.debug("analytics: could not record %s: %s", name, exc)
