"""What a render job looks like to callers (CLI, watch, JSON), and the read queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from sqlalchemy import select

from rendercli.db.models import (
    ACTIVE_JOB_STATUSES,
    JOB_STATUSES,
    Project,
    RenderJob,
    RenderTask,
)
from rendercli.db.types import utcnow
from rendercli.errors import InvalidInput, NotFound
from rendercli.services.projects import find_owned

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rendercli.services.renders.tasks import TaskView
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
    # A render split over the farm: its tasks done / in all, and the workers that ran
    # (or run) them, in order of first start. 0, 0, [] for a render in one piece.
    tasks_done: int = 0
    tasks_total: int = 0
    workers: list[str] = field(default_factory=list)

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
    tasks: list[TaskView] = field(default_factory=list)  # a render split over the farm


@dataclass(frozen=True)
class TaskSummary:
    done: int
    total: int
    workers: list[str]


def task_summaries(session: Session, job_ids: list[str]) -> dict[str, TaskSummary]:
    """Tasks done / in all and the workers involved, for the split jobs among these."""
    if not job_ids:
        return {}
    rows = session.execute(
        select(RenderTask.job_id, RenderTask.state, RenderTask.worker_name)
        .where(RenderTask.job_id.in_(job_ids))
        .order_by(RenderTask.job_id, RenderTask.started_at, RenderTask.seq)
    ).all()
    out: dict[str, TaskSummary] = {}
    for job_id, state, worker in rows:
        summary = out.setdefault(job_id, TaskSummary(0, 0, []))
        workers = summary.workers
        if worker and worker not in workers:
            workers.append(worker)
        out[job_id] = TaskSummary(summary.done + (state == "completed"), summary.total + 1,
                                  workers)
    return out


def path_from_url(url: str | None) -> str | None:
    if not url:
        return None
    return unquote(urlparse(url).path)


def job_view(job: RenderJob, project_name: str, tasks: TaskSummary | None = None) -> JobView:
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
        output_path=path_from_url(job.output_url),
        poster_url=job.poster_url,
        output_size=job.output_size,
        output_duration=job.output_duration,
        output_sha256=job.output_sha256,
        cache_hit=job.cache_hit,
        error=job.error,
        attempts=job.attempts,
        worker_name=job.worker_name,
        dispatch_pending=job.status == "queued" and job.dispatched_at is None,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        heartbeat_at=job.heartbeat_at,
        tasks_done=tasks.done if tasks else 0,
        tasks_total=tasks.total if tasks else 0,
        workers=list(tasks.workers) if tasks else [],
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
        return job_view(job, name, task_summaries(uow.session, [job.id]).get(job.id))


def get_many(uow: UnitOfWork, user_id: str, job_ids: list[str]) -> list[JobView]:
    """Several of the user's jobs, in the order asked. Raises NotFound for any unknown id."""
    with uow:
        rows = uow.session.execute(
            select(RenderJob, Project.name)
            .join(Project)
            .where(RenderJob.id.in_(job_ids), Project.owner_id == user_id)
        ).all()
        summaries = task_summaries(uow.session, [job.id for job, _name in rows])
        found = {job.id: job_view(job, name, summaries.get(job.id)) for job, name in rows}
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
        summaries = task_summaries(uow.session, [job.id for job, _name in rows])
        return [job_view(job, name, summaries.get(job.id)) for job, name in rows]


def logs(uow: UnitOfWork, user_id: str, job_id: str) -> JobLog:
    """The render log: ffmpeg commands, the stderr tail on failure, attempts, worker;
    for a render split over the farm, each task's command, worker and time."""
    from rendercli.services.renders.tasks import task_views

    with uow:
        job, _ = owned_job(uow, user_id, job_id)
        return JobLog(
            id=job.id,
            status=job.status,
            attempts=job.attempts,
            worker_name=job.worker_name,
            error=job.error,
            log=job.log or "",
            tasks=task_views(uow.session, job.id),
        )
