"""Every change of a render job's state: claim, heartbeat, leave processing (complete,
fail, interrupted), cancel, and recovery of jobs whose worker stopped.

Every worker-side transition is one guarded UPDATE, so two workers can never both own a
job. The attempt number taken at claim time is a fencing token: a worker that lost its
job (it was cancelled, or presumed dead and handed to another worker) cannot heartbeat
it, complete it or fail it any more.

Worker-side functions take `sessions` (a session factory) to choose the database;
None means the configured one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import exists, select, update

from rendercli.config import get_settings
from rendercli.db.models import ACTIVE_JOB_STATUSES, Project, RenderJob, RenderTask
from rendercli.db.types import utcnow
from rendercli.errors import Conflict
from rendercli.services.renders import dispatch, tasks
from rendercli.services.renders.claims import (
    Claim,
    append_log,
    claim_or_pass,
    log_tail,
    with_db_retry,
)
from rendercli.services.renders.views import JobView, job_view, owned_job
from rendercli.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from rendercli.db.session import SessionFactory

INLINE_WORKER_PREFIX = "inline@"  # worker name of renders run inside `render submit`


def _owned(job_id: str, claim: Claim | None = None):  # type: ignore[no-untyped-def]
    query = update(RenderJob).where(RenderJob.id == job_id)
    if claim is not None:
        query = query.where(
            RenderJob.status == "processing",
            RenderJob.worker_name == claim.worker_name,
            RenderJob.attempts == claim.attempt,
        )
    return query


def claim(job_id: str, worker_name: str, *, sessions: SessionFactory | None = None
          ) -> Claim | None:
    """Move a queued job to processing for this worker; None if it is not claimable."""

    def run(uow: UnitOfWork) -> Claim | None:
        now = utcnow()
        result = uow.session.execute(
            update(RenderJob)
            .where(RenderJob.id == job_id, RenderJob.status == "queued")
            .values(
                status="processing",
                worker_name=worker_name,
                started_at=now,
                heartbeat_at=now,
                updated_at=now,
                progress=0.0,
                eta_seconds=None,
                attempts=RenderJob.attempts + 1,
                error=None,
            )
        )
        if result.rowcount != 1:
            return None
        row = uow.session.execute(
            select(RenderJob.attempts, Project.owner_id, RenderJob.project_id)
            .join(Project)
            .where(RenderJob.id == job_id)
        ).one()
        uow.commit()
        return Claim(job_id, worker_name, row.attempts, row.owner_id, row.project_id)

    return claim_or_pass(run, sessions)


def heartbeat(
    claim: Claim,
    *,
    progress: float | None = None,
    eta_seconds: float | None = None,
    sessions: SessionFactory | None = None,
) -> bool:
    """Record that the worker is alive (and its progress). False: the job is no longer ours."""
    values: dict[str, object] = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = max(0.0, min(100.0, progress))
        values["eta_seconds"] = eta_seconds
    with UnitOfWork(sessions) as uow:
        result = uow.session.execute(_owned(claim.job_id, claim).values(**values))
        uow.commit()
        return result.rowcount == 1


def still_ours(claim: Claim, *, sessions: SessionFactory | None = None) -> bool:
    """True while the job is processing under this claim (not cancelled, not handed over)."""
    with UnitOfWork(sessions) as uow:
        row = uow.session.execute(
            select(RenderJob.status, RenderJob.worker_name, RenderJob.attempts).where(
                RenderJob.id == claim.job_id
            )
        ).first()
    return row is not None and tuple(row) == ("processing", claim.worker_name, claim.attempt)


def leave_processing(
    claim: Claim,
    status: str,
    log_text: str = "",
    *,
    sessions: SessionFactory | None = None,
    retry: bool = True,
    **values: object,
) -> bool:
    """Move the job out of processing to `status`, appending `log_text` to its log.

    Guarded by the claim: False (and nothing written) if the job is no longer processing
    under this worker and attempt. `retry` retries the write while the database is away.
    """

    def run() -> bool:
        now = utcnow()
        with UnitOfWork(sessions) as uow:
            current_log = uow.session.scalar(
                select(RenderJob.log).where(RenderJob.id == claim.job_id)
            )
            result = uow.session.execute(
                _owned(claim.job_id, claim).values(
                    status=status,
                    finished_at=now,
                    updated_at=now,
                    log=append_log(log_text, current_log),
                    **values,
                )
            )
            uow.commit()
            return result.rowcount == 1

    return with_db_retry(run) if retry else run()


def complete(
    claim: Claim, *, log: str = "", sessions: SessionFactory | None = None, **fields: object
) -> bool:
    """Publish the result. False if the job stopped being ours (the output is then unused)."""
    return leave_processing(
        claim, "completed", log, sessions=sessions, progress=100.0, eta_seconds=0.0,
        heartbeat_at=utcnow(), **fields,
    )


def fail(
    claim: Claim, reason: str, log_text: str = "", *, sessions: SessionFactory | None = None
) -> bool:
    """Mark the job failed with a one-line reason. False if it stopped being ours."""
    return leave_processing(
        claim, "failed", log_text, sessions=sessions, error=reason, eta_seconds=None
    )


def interrupted(claim: Claim, *, sessions: SessionFactory | None = None) -> bool:
    """Mark the job cancelled because its own process was interrupted (Ctrl-C, SIGTERM).

    No retries: the process is on its way out. False if it stopped being ours.
    """
    return leave_processing(
        claim, "cancelled", sessions=sessions, retry=False, error="interrupted",
        cancel_requested_at=utcnow(),
    )


def cancel(uow: UnitOfWork, user_id: str, job_id: str) -> JobView:
    """Cancel a queued or processing job. The worker stops its ffmpeg and keeps no output."""
    with uow:
        job, name = owned_job(uow, user_id, job_id)
        if job.status not in ACTIVE_JOB_STATUSES:
            raise Conflict(f"job {job.id} has already finished ({job.status})")
        now = utcnow()
        was = job.status
        job.status = "cancelled"
        job.cancel_requested_at = now
        job.finished_at = now
        job.updated_at = now
        job.eta_seconds = None
        since = job.started_at or job.created_at
        uow.record_event("render.cancelled", user_id, job_id=job.id, was=was,
                         seconds=round((now - since).total_seconds(), 3))
        view = job_view(job, name)
        split = tasks.stop_job_tasks(uow.session, job.id, now) > 0
        uow.commit()
    if was == "queued" or split:
        dispatch.forget(job_id, tasks=split)
    return view


def record_log(job_id: str, text: str, *, sessions: SessionFactory | None = None) -> None:
    """Append to a job's log regardless of its state."""
    with UnitOfWork(sessions) as uow:
        job = uow.session.get(RenderJob, job_id)
        if job is not None:
            job.log = append_log(text, job.log)
            uow.commit()


@dataclass(frozen=True)
class Recovery:
    requeued: list[str]
    failed: list[str]
    tasks_requeued: list[str] = field(default_factory=list)


def recover_stale(
    *, now_offset: float = 0.0, sessions: SessionFactory | None = None
) -> Recovery:
    """Hand back processing jobs (and tasks of split jobs) whose worker stopped
    heartbeating.

    A job silent for longer than RENDERCLI_HEARTBEAT_TIMEOUT is re-queued if it has
    attempts left (1 + RENDERCLI_MAX_RETRIES in all), or failed otherwise. An inline
    render (embedded default) is failed at once: no farm would ever resume it. On the
    embedded default, a queued job whose submitting process died before starting it is
    failed too. Safe to call from anywhere, any number of times: each transition is
    guarded.
    """
    settings = get_settings()
    now = utcnow() + timedelta(seconds=now_offset)
    cutoff = now - timedelta(seconds=settings.heartbeat_timeout)
    max_attempts = 1 + settings.max_retries
    failed_early = _fail_orphaned_queued(cutoff, now, sessions) if settings.is_embedded else []
    requeued: list[str] = []
    failed: list[str] = []
    with UnitOfWork(sessions) as uow:
        # A job split into tasks lives as long as its tasks do: they are recovered
        # one by one (tasks.recover_stale), never the whole job.
        stale = uow.session.execute(
            select(RenderJob.id, RenderJob.attempts, RenderJob.worker_name).where(
                RenderJob.status == "processing", RenderJob.heartbeat_at < cutoff,
                ~exists().where(RenderTask.job_id == RenderJob.id),
            # Rows another session holds (a client may lock its own) wait for a later
            # sweep instead of stopping this one for every account.
            ).with_for_update(skip_locked=True, of=RenderJob)
        ).all()
        for job_id, attempts, worker in stale:
            guard = update(RenderJob).where(
                RenderJob.id == job_id,
                RenderJob.status == "processing",
                RenderJob.attempts == attempts,
                RenderJob.heartbeat_at < cutoff,
            )
            note = (
                f"[{now:%Y-%m-%d %H:%M:%S} UTC] attempt {attempts} lost: worker {worker} stopped "
                f"heartbeating\n"
            )
            log_text = append_log(note, log_tail(uow.session, job_id))
            # An inline render belonged to a CLI process that is gone: no farm resumes it.
            inline = (worker or "").startswith(INLINE_WORKER_PREFIX)
            if attempts < max_attempts and not inline:
                result = uow.session.execute(
                    guard.values(
                        status="queued",
                        worker_name=None,
                        heartbeat_at=None,
                        progress=0.0,
                        eta_seconds=None,
                        dispatched_at=None,
                        updated_at=now,
                        log=log_text,
                    )
                )
                if result.rowcount == 1:
                    requeued.append(job_id)
            else:
                result = uow.session.execute(
                    guard.values(
                        status="failed",
                        finished_at=now,
                        updated_at=now,
                        log=log_text,
                        error=_lost_reason(attempts, inline),
                    )
                )
                if result.rowcount == 1:
                    failed.append(job_id)
        uow.commit()
    lost = tasks.recover_stale(cutoff, now, max_attempts, sessions=sessions)
    return Recovery(requeued, failed_early + failed + lost.failed_jobs, lost.requeued)


def _lost_reason(attempts: int, inline: bool) -> str:
    if inline:
        return "the rendering process stopped before it finished (killed or crashed)"
    return f"the worker stopped responding ({attempts} attempt{'s' if attempts != 1 else ''})"


def _fail_orphaned_queued(
    cutoff: datetime, now: datetime, sessions: SessionFactory | None
) -> list[str]:
    """Embedded mode: a queued job is started by the process that submitted it, at once.
    One still queued after the heartbeat timeout lost that process (killed, or a crash)."""
    with UnitOfWork(sessions) as uow:
        result = uow.session.execute(
            update(RenderJob)
            .where(RenderJob.status == "queued", RenderJob.created_at < cutoff)
            .values(status="failed", finished_at=now, updated_at=now,
                    error="the rendering process stopped before the render started")
            .returning(RenderJob.id)
        )
        ids = list(result.scalars())
        uow.commit()
    return ids
