"""What a render job looks like to callers (CLI, watch, JSON), and the read queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from rendercli.db.models import ACTIVE_JOB_STATUSES, JOB_STATUSES, Project, RenderJob
from rendercli.db.types import utcnow
from rendercli.errors import InvalidInput, NotFound
from rendercli.services.projects import find_owned

if TYPE_CHECKING:
    from rendercli.services.unit_of_work import UnitOfWork

FINISHED_STATUSES = ("completed", "failed", "cancelled")


@dataclass(frozen=True)
class JobView:
    id: str
    project_id: str
    project_name: str
    status: str
    progress: float
    eta_seconds: float | None
    elapsed_seconds: float | None
    preset: str
    format: str
    fps: int
    quality: str
    use_cache: bool
    output_url: str | None
    output_path: str | None
    poster_url: str | None
    poster_path: str | None
    output_size: int | None
    output_duration: float | None
    output_sha256: str | None
    cache_hit: bool | None
    error: str | None
    attempts: int
    worker_name: str | None
    dispatch_pending: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES


@dataclass(frozen=True)
class JobLog:
    id: str
    status: str
    attempts: int
    worker_name: str | None
    error: str | None
    log: str


UNSAFE_OUTPUT = "the output recorded for this job is not its file in storage: ignored"


def _render_file(job: RenderJob, url: str | None) -> str | None:
    """The job's output (or poster) file, only if its recorded URL names exactly one of
    the job's own files in this machine's storage (a tampered row must not make a
    download read elsewhere)."""
    if not url:
        return None
    from rendercli import storage
    from rendercli.config import get_settings

    try:
        return str(storage.render_file_from_url(get_settings().storage_dir, url, job.id))
    except storage.UnsafePath:
        return None


def job_view(job: RenderJob, project_name: str) -> JobView:
    output_path = _render_file(job, job.output_url)
    elapsed = None
    if job.started_at is not None:
        elapsed = ((job.finished_at or utcnow()) - job.started_at).total_seconds()
    return JobView(
        id=job.id,
        project_id=job.project_id,
        project_name=project_name,
        status=job.status,
        progress=round(job.progress, 1),
        eta_seconds=job.eta_seconds,
        elapsed_seconds=None if elapsed is None else round(elapsed, 2),
        preset=job.preset,
        format=job.format,
        fps=job.fps,
        quality=job.quality,
        use_cache=job.use_cache,
        output_url=job.output_url,
        output_path=output_path,
        poster_url=job.poster_url,
        poster_path=_render_file(job, job.poster_url),
        output_size=job.output_size,
        output_duration=job.output_duration,
        output_sha256=job.output_sha256,
        cache_hit=job.cache_hit,
        error=job.error or (UNSAFE_OUTPUT if job.output_url and output_path is None else None),
        attempts=job.attempts,
        worker_name=job.worker_name,
        dispatch_pending=job.status == "queued" and job.dispatched_at is None,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        heartbeat_at=job.heartbeat_at,
    )


def owned_job(uow: UnitOfWork, user_id: str, job_id: str) -> tuple[RenderJob, str]:
    """The user's job and its project's name; NotFound for a missing or foreign job."""
    row = uow.session.execute(
        select(RenderJob, Project.name)
        .join(Project)
        .where(RenderJob.id == job_id, Project.owner_id == user_id)
    ).first()
    if row is None:
        raise NotFound(f"job not found: {job_id}")
    return row[0], row[1]


def get(uow: UnitOfWork, user_id: str, job_id: str) -> JobView:
    """One of the user's jobs."""
    with uow:
        job, name = owned_job(uow, user_id, job_id)
        return job_view(job, name)


def get_many(uow: UnitOfWork, user_id: str, job_ids: list[str]) -> list[JobView]:
    """Several of the user's jobs, in the order asked. Raises NotFound for any unknown id."""
    with uow:
        rows = uow.session.execute(
            select(RenderJob, Project.name)
            .join(Project)
            .where(RenderJob.id.in_(job_ids), Project.owner_id == user_id)
        ).all()
        found = {job.id: job_view(job, name) for job, name in rows}
    for job_id in job_ids:
        if job_id not in found:
            raise NotFound(f"job not found: {job_id}")
    return [found[j] for j in job_ids]


def list_jobs(
    uow: UnitOfWork,
    user_id: str,
    *,
    project_ref: str | None = None,
    status: str | None = None,
    limit: int = 20,
) -> list[JobView]:
    """The user's jobs, newest first, optionally for one project and/or one status."""
    if status is not None and status not in JOB_STATUSES:
        raise InvalidInput(f"unknown status {status!r}; choose one of {', '.join(JOB_STATUSES)}")
    if not 1 <= limit <= 1000:
        raise InvalidInput("--limit must be between 1 and 1000")
    with uow:
        query = select(RenderJob, Project.name).join(Project).where(Project.owner_id == user_id)
        if project_ref is not None:
            query = query.where(RenderJob.project_id == find_owned(uow, user_id, project_ref).id)
        if status is not None:
            query = query.where(RenderJob.status == status)
        rows = uow.session.execute(
            query.order_by(RenderJob.created_at.desc(), RenderJob.id).limit(limit)
        ).all()
        return [job_view(job, name) for job, name in rows]


def logs(uow: UnitOfWork, user_id: str, job_id: str) -> JobLog:
    """The render log: ffmpeg commands, the stderr tail on failure, attempts, worker."""
    with uow:
        job, _ = owned_job(uow, user_id, job_id)
        return JobLog(
            id=job.id,
            status=job.status,
            attempts=job.attempts,
            worker_name=job.worker_name,
            error=job.error,
            log=job.log or "",
        )
