"""Farm upkeep, one call for commands and workers alike.

Hand back (or fail) jobs whose worker or inline render stopped heartbeating, sweep what
killed processes left in storage, and, in farm mode, dispatch queued jobs Redis never
saw. `for_command` first asks the database, in one light query, whether any of that is
due, so the commands people run most stay fast when nothing is.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from rendercli.db.clock import utcnow

if TYPE_CHECKING:
    from rendercli.db.rows import Rows
    from rendercli.services.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


def due(rows: Rows) -> bool:
    """True when a job, or a task of a job split over the farm, may need recovering or
    dispatching (the same cutoff as lifecycle.recover_stale uses for both; a queued job
    in farm mode may lack its RQ job). A task's worker can die while its siblings keep
    the job's own heartbeat fresh, so tasks are asked about separately."""
    from rendercli.config import get_settings

    settings = get_settings()
    cutoff = utcnow() - timedelta(seconds=settings.heartbeat_timeout)
    queued = "j.status = 'queued' AND j.created_at < :cutoff" if settings.is_embedded \
        else "j.status = 'queued'"
    found = rows.all(
        "SELECT 1 AS due FROM render_jobs AS j WHERE (j.status = 'processing' AND "
        f"j.heartbeat_at < :cutoff) OR ({queued}) LIMIT 1", cutoff=cutoff)
    if found:
        return True
    return bool(rows.all(
        "SELECT 1 AS due FROM render_tasks AS t WHERE t.state = 'processing' AND "
        "t.heartbeat_at < :cutoff LIMIT 1", cutoff=cutoff))


def run(connection: Any = None, *, worker: bool = False) -> None:
    """Everything, unconditionally (an idle worker's sweep, ``worker=True``: it alone
    sweeps unreferenced objects on PostgreSQL, see housekeeping.sweeps_orphans)."""
    from rendercli.config import get_settings
    from rendercli.services import housekeeping
    from rendercli.services.renders import lifecycle

    recovery = lifecycle.recover_stale()
    if recovery.requeued or recovery.failed:
        log.warning("recovered stale jobs: requeued %s, failed %s", recovery.requeued,
                    recovery.failed)
    _sweep(housekeeping, worker=worker)
    if get_settings().redis_url is not None:
        from rendercli.services.renders import dispatch

        dispatched = dispatch.reconcile(connection)
        if dispatched:
            log.info("dispatched queued jobs: %s", dispatched)


def _sweep(housekeeping: Any, *, worker: bool) -> None:
    # Storage trouble never stops recovery or dispatch.
    try:
        housekeeping.sweep_storage(worker=worker)
    except Exception as exc:
        log.warning("storage sweep failed: %s", exc)


def for_command(uow: UnitOfWork) -> None:
    """What any command that reads or changes jobs does first: sweep storage (never
    objects on PostgreSQL: that is the workers'), and run the rest when `due` says so.
    Failures here never fail the command."""
    try:
        with uow:
            needed = due(uow.rows)
        if needed:
            run()
        else:
            from rendercli.services import housekeeping

            _sweep(housekeeping, worker=False)
    except Exception as exc:
        log.debug("upkeep skipped: %s", exc)
