"""Upkeep: what keeps the farm and storage healthy, in sweeps -- the workers' full sweep
(`run`), and the bounded check every job command makes (`for_command`). The storage
sweeps are `upkeep.sweeps`.

Workers (`run`, every idle sweep) hand back or fail jobs and tasks whose worker or inline
render stopped heartbeating, sweep storage, and, in farm mode, dispatch every queued row
that has no live RQ job. A command (`for_command`) does work that does not grow with the
queue: one indexed probe for stale heartbeats (recovering only those it finds, and
dispatching only what it recovered), and, at most once per RENDERCLI_WORKER_SWEEP_INTERVAL
on this machine, up to DISPATCH_LIMIT queued rows Redis never saw that are older than
DISPATCH_GRACE. Queued rows whose RQ job vanished later are the workers' to find.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from rendercli.db.clock import utcnow

if TYPE_CHECKING:
    from rendercli.config import Settings
    from rendercli.db.rows import Rows
    from rendercli.services.renders.lifecycle import Recovery
    from rendercli.services.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

DISPATCH_LIMIT = 50  # queued rows one command dispatches at most
DISPATCH_GRACE = timedelta(seconds=60)  # younger rows may still be on their way to Redis
DISPATCH_STAMP = "dispatch-checked"  # in the data directory: when a command last looked


def due(rows: Rows, settings: Settings) -> bool:
    """True when a job, or a task of a job split over the farm (its siblings may keep
    the job's heartbeat fresh), stopped heartbeating (lifecycle.recover_stale's cutoff),
    or on the embedded default a queued job outlived its submitting process. One
    statement through the indexes: how many jobs are queued does not matter."""
    from rendercli.repositories.jobs import stale_probe

    cutoff = utcnow() - timedelta(seconds=settings.heartbeat_timeout)
    return stale_probe(rows, cutoff, orphaned_queued=settings.is_embedded)


def run(connection: Any = None, *, worker: bool = False, uow: UnitOfWork) -> None:
    """Everything, unconditionally, on `uow`'s database (an idle worker's sweep,
    ``worker=True``: it alone sweeps unreferenced objects on PostgreSQL, see
    sweeps.sweeps_orphans)."""
    from rendercli.services.renders import lifecycle

    _logged(lifecycle.recover_stale(uow=uow))
    _sweep(uow, worker=worker)
    if uow.settings.redis_url is not None:
        from rendercli.services.renders import dispatch

        dispatched = dispatch.reconcile(connection, uow=uow)
        if dispatched:
            log.info("dispatched queued jobs: %s", dispatched)


def _logged(recovery: Recovery) -> Recovery:
    if recovery.requeued or recovery.failed:
        log.warning("recovered stale jobs: requeued %s, failed %s", recovery.requeued,
                    recovery.failed)
    return recovery


def _sweep(uow: UnitOfWork, *, worker: bool) -> None:
    from rendercli.services.upkeep import sweeps

    # Storage trouble never stops recovery or dispatch.
    try:
        sweeps.sweep_storage(worker=worker, uow=uow)
    except Exception as exc:
        log.warning("storage sweep failed: %s", exc)


def for_command(uow: UnitOfWork) -> None:
    """What any command that reads or changes jobs does first, in a bounded amount of
    work however many jobs are queued: recover what `due` finds stale (and dispatch
    just that), sweep storage leftovers (never objects on PostgreSQL: that is the
    workers'), and now and then dispatch a few queued rows Redis never saw
    (`dispatch_some`). Failures here never fail the command."""
    try:
        with uow:
            stale = due(uow.rows, uow.settings)
        if stale:
            _recover_for_command(uow)
        _sweep(uow, worker=False)
        if uow.settings.redis_url is not None:
            dispatch_some(uow)
    except Exception as exc:
        log.debug("upkeep skipped: %s", exc)


def _recover_for_command(uow: UnitOfWork) -> None:
    """Hand back what stopped heartbeating, and put exactly that back on the queue."""
    from rendercli.services.renders import dispatch, lifecycle

    recovery = _logged(lifecycle.recover_stale(uow=uow))
    if uow.settings.redis_url is None or not (recovery.requeued
                                              or recovery.tasks_requeued):
        return
    connection = dispatch.redis_connection(uow.settings.redis_url)
    for job_id in recovery.requeued:
        dispatch.enqueue(job_id, connection, replace_started=True, uow=uow)
    if recovery.tasks_requeued:
        dispatch.reconcile_tasks(connection, uow=uow)


def dispatch_some(uow: UnitOfWork, *, limit: int = DISPATCH_LIMIT) -> list[str]:
    """At most once per RENDERCLI_WORKER_SWEEP_INTERVAL on this machine (a timestamp
    file in the data directory), dispatch up to `limit` of the oldest queued rows Redis
    never saw (Redis was down at submit), older than DISPATCH_GRACE. Returns their ids."""
    from rendercli.services.upkeep.sweeps import stamp_due

    settings = uow.settings
    if not stamp_due(settings.data_dir / DISPATCH_STAMP, settings.worker_sweep_interval):
        return []
    from rendercli.services.renders import dispatch

    dispatched = dispatch.dispatch_undispatched(limit, older_than=DISPATCH_GRACE, uow=uow)
    if dispatched:
        log.info("dispatched queued jobs: %s", dispatched)
    return dispatched
