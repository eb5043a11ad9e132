"""Dispatching render jobs to the RQ queue `render-video` (farm mode only).

The database row is the truth; the RQ job (same id as the render job) is only a wake-up
call for a worker. So dispatch may fail or happen twice without harm: a row stays
`queued` until a worker claims it, the reconciler re-enqueues queued rows that have no
live RQ job, and a duplicate RQ job finds the row already claimed and does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from rendercli.config import RENDER_QUEUE, Settings
from rendercli.db.clock import utcnow
from rendercli.db.ids import is_valid_id
from rendercli.db.statuses import TaskState
from rendercli.repositories import jobs
from rendercli.services.renders import RENDER_FUNCTION, TASK_FUNCTION
from rendercli.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from redis import Redis
    from rq import Queue
    from rq.job import Job

log = logging.getLogger(__name__)

WAITING_RQ_STATES = ("queued", "deferred", "scheduled")
LIVE_RQ_STATES = (*WAITING_RQ_STATES, "started")


def redis_connection(url: str | None) -> Redis:
    """A Redis client for `url` (the settings' RENDERCLI_REDIS_URL), with short timeouts
    (never hang a command)."""
    from redis import Redis

    if url is None:
        raise RuntimeError("RENDERCLI_REDIS_URL is not set")
    return Redis.from_url(
        url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=30
    )


def render_queue(connection: Redis) -> Queue:
    from rq import Queue
    from rq.serializers import JSONSerializer

    return Queue(RENDER_QUEUE, connection=connection, serializer=JSONSerializer)


def _fetch(ids: list[str], connection: Redis) -> list[Job | None]:
    """These RQ jobs (None where there is none), in one pipelined read."""
    from rq.job import Job
    from rq.serializers import JSONSerializer

    return Job.fetch_many(ids, connection=connection, serializer=JSONSerializer)


def _state(job: Job) -> str:
    """An RQ job's status as stored (not read again)."""
    return str(getattr(job.get_status(refresh=False), "value", ""))


def _delete(connection: Redis, found: Iterable[Job | None]) -> None:
    """Delete these RQ jobs in one pipeline."""
    with connection.pipeline() as pipe:
        for job in found:
            if job is not None:
                job.delete(pipeline=pipe)
        pipe.execute()


def _unreachable(exc: Exception) -> str:
    return f"Redis is unreachable ({' '.join(str(exc).split())})"


def enqueue(job_id: str, connection: Redis | None = None, *, replace_started: bool = False,
            uow: UnitOfWork) -> str | None:
    """Put the job on the queue. Returns None on success, or why dispatch is pending.

    An RQ job already waiting under this id is kept. `replace_started` also replaces one
    RQ believes started: the reconciler passes it for rows that are queued and were never
    (re)dispatched, where a "started" RQ job can only be a dead worker's attempt.
    """
    from redis.exceptions import RedisError

    try:
        conn = connection or redis_connection(uow.settings.redis_url)
        queue = render_queue(conn)
        existing = _rq_status(job_id, conn)
        if existing in WAITING_RQ_STATES or (existing == "started" and not replace_started):
            _mark_dispatched([job_id], uow)
            return None
        if existing is not None:
            queue.fetch_job(job_id).delete()  # type: ignore[union-attr]  # an old attempt
        queue.enqueue_many([render_job_data(type(queue), job_id, uow.settings)])
    except RedisError as exc:
        return _unreachable(exc)
    _mark_dispatched([job_id], uow)
    return None


def rq_options(settings: Settings) -> dict[str, int]:
    """The timeouts of every RQ job rendercli enqueues (a job or a task)."""
    return {"timeout": settings.job_timeout + 60, "result_ttl": 24 * 3600,
            "failure_ttl": 7 * 24 * 3600}


def render_job_data(queue_cls: type[Queue], job_id: str, settings: Settings) -> object:
    """RQ's enqueue data for a render job (the payload rendercli.rq_guard accepts)."""
    return queue_cls.prepare_data(RENDER_FUNCTION, [job_id], job_id=job_id,
                                  description=f"render {job_id}", **rq_options(settings))


def enqueue_new(job_ids: list[str], connection: Redis | None = None, *, chunk: int = 500,
                uow: UnitOfWork) -> str | None:
    """Put jobs just created (no RQ job can exist under their ids yet) on the queue:
    ``chunk`` at a time, each chunk in one Redis pipeline, then marked dispatched with
    one UPDATE. Returns None, or why dispatch is pending (the reconciler dispatches
    whatever was not marked)."""
    from redis.exceptions import RedisError
    from rq import Queue

    try:
        conn = connection or redis_connection(uow.settings.redis_url)
        queue = render_queue(conn)
        for start in range(0, len(job_ids), chunk):
            ids = job_ids[start:start + chunk]
            with conn.pipeline() as pipe:
                queue.enqueue_many([render_job_data(Queue, i, uow.settings) for i in ids],  # type: ignore[misc]
                                   pipeline=pipe)
                pipe.execute()
            _mark_dispatched(ids, uow)
    except RedisError as exc:
        return _unreachable(exc)
    return None


def dispatch_undispatched(limit: int, *, older_than: timedelta,
                          connection: Redis | None = None,
                          uow: UnitOfWork) -> list[str]:
    """Dispatch up to `limit` of the oldest queued rows never dispatched (Redis was down
    at submit, or a handed-back job whose dispatch failed) that are older than
    `older_than`: one SELECT with LIMIT, one pipelined read of their RQ jobs, one
    pipeline to enqueue, one UPDATE. Returns the ids dispatched; [] when Redis is
    unreachable (the rows wait for the next try or a worker's sweep)."""
    from redis.exceptions import RedisError
    from rq import Queue

    with uow:
        found = jobs.undispatched_jobs(uow.rows, utcnow() - older_than, limit)
    # A row with an id rendercli does not make is left to the workers' reconcile.
    ids = [job_id for job_id in found if is_valid_id(job_id)]
    if not ids:
        return []
    try:
        conn = connection or redis_connection(uow.settings.redis_url)
        queue = render_queue(conn)
        existing = _fetch(ids, conn)
        # Never dispatched: a "started" RQ job can only be a dead worker's attempt.
        waiting = {job.id for job in existing
                   if job is not None and _state(job) in WAITING_RQ_STATES}
        _delete(conn, [job for job in existing if job is not None and job.id not in waiting])
        new = [job_id for job_id in ids if job_id not in waiting]
        with conn.pipeline() as pipe:
            queue.enqueue_many([render_job_data(Queue, i, uow.settings) for i in new],  # type: ignore[misc]
                               pipeline=pipe)
            pipe.execute()
    except (RedisError, ValueError, TypeError) as exc:  # down, or a job RQ cannot read
        log.debug("dispatch of queued jobs skipped: %s", exc)
        return []
    _mark_dispatched(ids, uow)
    return ids


def _rq_status(job_id: str, connection: Redis) -> str | None:
    from rq.exceptions import NoSuchJobError
    from rq.job import Job
    from rq.serializers import JSONSerializer

    try:
        job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    except NoSuchJobError:
        return None
    status = job.get_status(refresh=False)
    return None if status is None else str(getattr(status, "value", status))


def _mark_dispatched(job_ids: list[str], uow: UnitOfWork) -> None:
    """Note that these jobs, if still queued, are on the queue (one UPDATE)."""
    with uow:
        jobs.mark_jobs_dispatched(uow.rows, job_ids)
        uow.commit()


def forget(job_id: str, *, tasks: bool = False, uow: UnitOfWork) -> None:
    """Take a cancelled (or failed) job off the queue, and with `tasks` its tasks that
    have not started (best effort: a worker would skip them anyway)."""
    if uow.settings.redis_url is None:
        return
    try:
        conn = redis_connection(uow.settings.redis_url)
        ids = [job_id]
        if tasks:
            with uow:
                ids += [task["id"] for task in jobs.tasks_of(uow.rows, job_id)]
        _delete(conn, [job for job in _fetch(ids, conn) if job is not None and (
            job.id == job_id or _state(job) in WAITING_RQ_STATES)])
    except Exception as exc:  # not there, or Redis is down: nothing to undo
        log.debug("could not remove %s from the queue: %s", job_id, exc)


def enqueue_tasks(job_id: str, connection: Redis | None = None, *, replace: bool = False,
                  only: list[str] | None = None,
                  uow: UnitOfWork) -> str | None:
    """Put a split job's queued tasks on the queue, and its assemble task behind them
    (an RQ dependency on every task not completed yet). Returns None on success, or why
    dispatch is pending.

    The tasks go out in one Redis pipeline and the assemble task in a few round trips
    more, however many tasks there are. `replace` (the reconciler) first deletes any
    RQ jobs left under those ids (a dead worker's attempt) and re-links the assemble
    task to the new ones; `only` limits the tasks (not the assemble task) to these ids.
    """
    from redis.exceptions import RedisError
    from rq import Queue
    from rq.job import Dependency, Job

    with uow:
        rows = [(r["id"], r["kind"], r["state"], r["weight"])
                for r in jobs.tasks_of(uow.rows, job_id)]
    # Longest first: the last tasks to start are the short ones, so no worker sits idle
    # long at the end while another finishes a long task (ties keep timeline order).
    work = [t for t, kind, state, _w in sorted(rows, key=lambda r: -max(0.0, r[3] or 0.0))
            if kind != "assemble" and state == TaskState.QUEUED
            and (only is None or t in only)]
    assemble = [t for t, kind, state, _w in rows
                if kind == "assemble" and state == TaskState.QUEUED]
    waiting_on = [t for t, kind, state, _w in rows
                  if kind != "assemble" and state != TaskState.COMPLETED]
    options = rq_options(uow.settings)
    try:
        conn = connection or redis_connection(uow.settings.redis_url)
        queue = render_queue(conn)
        if replace:
            _delete(conn, _fetch([*work, *assemble], conn))
        with conn.pipeline() as pipe:
            queue.enqueue_many(
                # A task handed back is on the critical path: ahead of the others.
                [Queue.prepare_data(TASK_FUNCTION, [t], job_id=t, description=f"task {t}",
                                    at_front=replace, **options) for t in work],
                pipeline=pipe)
            if replace and assemble:
                for t in work:  # delete() dropped the old jobs' lists of dependents
                    pipe.sadd(Job.dependents_key_for(t), assemble[0])
            pipe.execute()
        for t in assemble:
            queue.enqueue_call(TASK_FUNCTION, [t], job_id=t, description=f"task {t}",
                               depends_on=Dependency(jobs=waiting_on) if waiting_on else None,
                               **options)
    except RedisError as exc:
        return _unreachable(exc)
    with uow:
        jobs.mark_tasks_dispatched(uow.rows, [*work, *assemble])
        uow.commit()
    return None


def reconcile_tasks(connection: Redis, *, uow: UnitOfWork) -> list[str]:
    """Dispatch queued tasks (of processing jobs) that have no live RQ job: never
    dispatched, or handed back after their worker died. Returns the task ids."""
    with uow:
        queued = jobs.queued_tasks(uow.rows)
    bad = [t for t in queued if not (is_valid_id(t[0]) and is_valid_id(t[1]))]
    for task_id, job_id, _kind, _at in bad:  # only a worker writes tasks: not expected
        log.warning("task %r of job %r has an id rendercli does not make; skipped",
                    task_id[:100], job_id[:100])
    queued = [t for t in queued if t not in bad]
    if not queued:
        return []
    with uow:
        ready = jobs.ready_to_assemble(
            uow.rows, sorted({job_id for _t, job_id, kind, _d in queued
                               if kind == "assemble"}))
    # One pipelined read for all of them, however many tasks wait.
    status = {job.id: _state(job) for job in _fetch([t[0] for t in queued], connection)
              if job is not None}
    # An assemble task still deferred when the database says its siblings are all done
    # waits on RQ jobs that will never finish (Redis lost them, or their results): lost.
    stuck = {t for t, job_id, kind, _d in queued if kind == "assemble" and job_id in ready
             and status.get(t) == "deferred"}
    live = {t for t, state in status.items() if state in LIVE_RQ_STATES and t not in stuck}
    by_job: dict[str, list[tuple[str, str]]] = {}
    for task_id, job_id, kind, dispatched_at in queued:
        if dispatched_at is not None and task_id in live:
            continue
        by_job.setdefault(job_id, []).append((task_id, kind))
    dispatched = []
    for job_id, lost in by_job.items():
        work = [t for t, kind in lost if kind != "assemble"]
        if enqueue_tasks(job_id, connection, replace=True, only=work,
                         uow=uow) is None:
            dispatched += [t for t, _kind in lost]
    return dispatched


def reconcile(connection: Redis | None = None, *, uow: UnitOfWork) -> list[str]:
    """Dispatch queued rows (and queued tasks of split jobs) that have no live RQ job
    (the workers' sweep; RQ jobs are read 500 per round trip). Returns the ids dispatched.

    Rows never dispatched (Redis was down at submit, or the job was handed back after its
    worker died) are always enqueued; dispatched rows only if their RQ job is gone.
    """
    with uow:
        queued = [(r["id"], r["dispatched_at"]) for r in jobs.queued_jobs(uow.rows)]
    conn = connection or redis_connection(uow.settings.redis_url)
    dispatched = reconcile_tasks(conn, uow=uow)
    live = _live([job_id for job_id, at in queued if at is not None and is_valid_id(job_id)],
                 conn)
    for job_id, dispatched_at in queued:
        # One bad row (written by hand: the database refuses such ids since 0009) is
        # failed on its own; it never stops the rows after it.
        if not is_valid_id(job_id):
            _refuse(job_id, "its id is not one rendercli makes", uow)
            continue
        try:
            if dispatched_at is not None and (
                    live[job_id] if job_id in live
                    else _rq_status(job_id, conn) in LIVE_RQ_STATES):
                continue
            pending = enqueue(job_id, conn, replace_started=dispatched_at is None,
                              uow=uow)
        except (ValueError, TypeError) as exc:  # RQ refused this job (not Redis being down)
            _refuse(job_id, f"the queue refused it ({' '.join(str(exc).split())[:200]})",
                    uow)
            continue
        if pending is None:
            dispatched.append(job_id)
    return dispatched


def _live(job_ids: list[str], connection: Redis, chunk: int = 500) -> dict[str, bool]:
    """Whether each job's RQ job is live, read ``chunk`` ids per pipelined round trip.
    A chunk RQ cannot read (a malformed job among them) is left out: the caller then
    asks for each of its jobs on its own."""
    live: dict[str, bool] = {}
    for start in range(0, len(job_ids), chunk):
        ids = job_ids[start:start + chunk]
        try:
            found = _fetch(ids, connection)
        except (ValueError, TypeError, AttributeError, KeyError):
            continue
        for job_id, job in zip(ids, found, strict=True):
            live[job_id] = job is not None and _state(job) in LIVE_RQ_STATES
    return live


def _refuse(job_id: str, why: str, uow: UnitOfWork) -> None:
    """Fail a queued job that cannot be dispatched, with the reason (plain SQL, the id
    only as a parameter), and log it with the id shown safely."""
    log.warning("job %r cannot be dispatched: %s; failing it", job_id[:100], why)
    with uow:
        jobs.refuse_job(uow.rows, job_id, f"could not be dispatched: {why}")
        uow.commit()
