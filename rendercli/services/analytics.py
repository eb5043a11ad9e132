"""Product analytics: fire-and-forget events that never fail the user's command.

A unit of work hands the events noted with `record_event` to
`rendercli.repositories.events.write_events` when it commits (the one place events are
written); the render worker calls `record` directly.
"""

from __future__ import annotations

import logging
from typing import Any

from rendercli.services.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


def record(uow: UnitOfWork, name: str, user_id: str | None, **properties: Any) -> None:
    """Record one event in a transaction of its own (e.g. from the render worker)."""
    try:
        with uow:
            uow.record_event(name, user_id, **properties)
            uow.commit()  # writes the event, swallowing any failure
    except Exception as exc:  # not even a connection: still never break the command
        log.debug("analytics: could not record %s: %s", name, exc)
