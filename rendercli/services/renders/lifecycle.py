"""Every change of a render job's state: claim, heartbeat, leave processing (complete,
fail, interrupted), cancel, and recovery of jobs whose worker stopped.

Every worker-side transition is one guarded UPDATE, so two workers can never both own a
job. The attempt number taken at claim time is a fencing token: a worker that lost its
job (it was cancelled, or presumed dead and handed to another worker) cannot heartbeat
it, complete it or fail it any more.

Worker-side functions take `uow` (a unit of work, entered once per transaction): it
chooses the database and carries the settings. The SQL is rendercli.repositories.jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from rendercli.db.clock import utcnow
from rendercli.db.statuses import ACTIVE_JOB_STATUSES, JobStatus
from rendercli.errors import Conflict
from rendercli.repositories import jobs
from rendercli.repositories.jobs import JobClaim, with_db_retry
from rendercli.services.renders import dispatch, tasks
from rendercli.services.renders.views import JobView, owned_job, owned_views
from rendercli.services.unit_of_work import UnitOfWork

INLINE_WORKER_PREFIX = "inline@"  # worker name of renders run inside `render submit`


def claim(job_id: str, worker_name: str, *, uow: UnitOfWork) -> JobClaim | None:
    """Move a queued job to processing for this worker; None if it is not claimable."""
    return tasks.claim_or_pass(lambda rows: jobs.claim_job(rows, job_id, worker_name),
                              uow)


def heartbeat(
    claim: JobClaim,
    *,
    progress: float | None = None,
    eta_seconds: float | None = None,
    uow: UnitOfWork,
) -> bool:
    """Record that the worker is alive (and its progress). False: the job is no longer ours."""
    values: dict[str, object] = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = max(0.0, min(100.0, progress))
        values["eta_seconds"] = eta_seconds
    with uow:
        ours = jobs.update_claimed_job(uow.rows, claim, **values)
        uow.commit()
        return ours


def still_ours(claim: JobClaim, *, uow: UnitOfWork) -> bool:
    """True while the job is processing under this claim (not cancelled, not handed over)."""
    with uow:
        return jobs.job_still_claimed(uow.rows, claim)


def leave_processing(
    claim: JobClaim,
    status: JobStatus,
    log_text: str = "",
    *,
    uow: UnitOfWork,
    retry: bool = True,
    **values: object,
) -> bool:
    """Move the job out of processing to `status`, appending `log_text` to its log.

    Guarded by the claim: False (and nothing written) if the job is no longer processing
    under this worker and attempt. `retry` retries the write while the database is away.
    """

    def run() -> bool:
        with uow:
            left = jobs.finish_job(uow.rows, claim.job_id, status, log_text, claim,
                                   log_limit=uow.settings.log_limit, **values)
            uow.commit()
            return left

    return with_db_retry(run) if retry else run()


def complete(claim: JobClaim, *, log: str = "", uow: UnitOfWork, **fields: object) -> bool:
    """Publish the result. False if the job stopped being ours (the output is then unused)."""
    return leave_processing(
        claim, JobStatus.COMPLETED, log, uow=uow, progress=100.0, eta_seconds=0.0,
        heartbeat_at=utcnow(), **fields,
    )


def fail(claim: JobClaim, reason: str, log_text: str = "", *, uow: UnitOfWork) -> bool:
    """Mark the job failed with a one-line reason. False if it stopped being ours."""
    return leave_processing(claim, JobStatus.FAILED, log_text, uow=uow, error=reason,
                            eta_seconds=None)


def interrupted(claim: JobClaim, *, uow: UnitOfWork) -> bool:
    """Mark the job cancelled because its own process was interrupted (Ctrl-C, SIGTERM).

    No retries: the process is on its way out. False if it stopped being ours.
    """
    return leave_processing(claim, JobStatus.CANCELLED, uow=uow, retry=False,
                            error="interrupted", cancel_requested_at=utcnow())


def cancel(uow: UnitOfWork, user_id: str, job_id: str) -> JobView:
    """Cancel a queued or processing job. The worker stops its ffmpeg and keeps no output."""
    with uow:
        job = owned_job(uow, user_id, job_id)
        job_id = job.id  # the whole id, if a prefix was typed
        if job.status not in ACTIVE_JOB_STATUSES:
            raise Conflict(f"job {job.id} has already finished ({job.status})")
        now = utcnow()
        # Tasks first, then the job: the order a task's heartbeat takes them in (the
        # other order deadlocks with it on PostgreSQL).
        split = jobs.stop_job_tasks(uow.rows, job_id, now) > 0
        if not jobs.cancel_job(uow.rows, job_id, now):
            raise Conflict(f"job {job.id} has already finished")
        since = job.started_at or job.created_at
        uow.record_event("render.cancelled", user_id, job_id=job.id, was=job.status,
                         seconds=round((now - since).total_seconds(), 3))
        view = owned_views(uow, user_id, [job_id])[job_id]
        uow.commit()
    if job.status == JobStatus.QUEUED or split:
        dispatch.forget(job_id, tasks=split, uow=uow)
    return view


def record_log(job_id: str, text: str, *, uow: UnitOfWork) -> None:
    """Append to a job's log regardless of its state."""
    with uow:
        jobs.add_to_log(uow.rows, job_id, text, uow.settings.log_limit)
        uow.commit()


@dataclass(frozen=True)
class Recovery:
    requeued: list[str]
    failed: list[str]
    tasks_requeued: list[str] = field(default_factory=list)


def recover_stale(*, now_offset: float = 0.0, uow: UnitOfWork) -> Recovery:
    """Hand back processing jobs (and tasks of split jobs) whose worker stopped
    heartbeating.

    A job silent for longer than RENDERCLI_HEARTBEAT_TIMEOUT is re-queued if it has
    attempts left (1 + RENDERCLI_MAX_RETRIES in all), or failed otherwise. An inline
    render (embedded default) is failed at once: no farm would ever resume it. On the
    embedded default, a queued job whose submitting process died before starting it is
    failed too. Safe to call from anywhere, any number of times: each transition is
    guarded.
    """
    settings = uow.settings
    now = utcnow() + timedelta(seconds=now_offset)
    cutoff = now - timedelta(seconds=settings.heartbeat_timeout)
    max_attempts = 1 + settings.max_retries
    failed_early: list[str] = []
    if settings.is_embedded:
        with uow:
            failed_early = jobs.fail_orphaned_queued(uow.rows, cutoff, now)
            uow.commit()
    requeued: list[str] = []
    failed: list[str] = []
    with uow:
        # A job split into tasks lives as long as its tasks do: they are recovered
        # one by one (tasks.recover_stale), never the whole job.
        for row in jobs.stale_jobs(uow.rows, cutoff):
            job_id, attempts, worker = row["id"], row["attempts"], row["worker_name"]
            note = (
                f"[{now:%Y-%m-%d %H:%M:%S} UTC] attempt {attempts} lost: worker {worker} stopped "
                f"heartbeating\n"
            )
            limit = settings.log_limit
            log_text = jobs.append_log(note, jobs.log_tail(uow.rows, job_id, limit), limit)
            # An inline render belonged to a CLI process that is gone: no farm resumes it.
            inline = (worker or "").startswith(INLINE_WORKER_PREFIX)
            if attempts < max_attempts and not inline:
                if jobs.update_if_stale(
                        uow.rows, "render_jobs", job_id, attempts, cutoff,
                        status=JobStatus.QUEUED.value,
                        worker_name=None, heartbeat_at=None, progress=0.0, eta_seconds=None,
                        dispatched_at=None, updated_at=now, log=log_text):
                    requeued.append(job_id)
            elif jobs.update_if_stale(
                    uow.rows, "render_jobs", job_id, attempts, cutoff,
                    status=JobStatus.FAILED.value,
                    finished_at=now, updated_at=now, log=log_text,
                    error=_lost_reason(attempts, inline)):
                failed.append(job_id)
        uow.commit()
    lost = tasks.recover_stale(cutoff, now, max_attempts, uow=uow)
    return Recovery(requeued, failed_early + failed + lost.failed_jobs, lost.requeued)


def _lost_reason(attempts: int, inline: bool) -> str:
    if inline:
        return "the rendering process stopped before it finished (killed or crashed)"
    return f"the worker stopped responding ({attempts} attempt{'s' if attempts != 1 else ''})"
