"""Render jobs as users see them: submit, list, status, logs, cancel, retry."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from rendercli.config import get_settings
from rendercli.db.models import ACTIVE_JOB_STATUSES, JOB_STATUSES, Asset, Project, RenderJob
from rendercli.db.types import utcnow
from rendercli.errors import Conflict, InvalidInput, NotFound
from rendercli.services.job_views import JobView, job_view
from rendercli.services.projects import find_owned
from rendercli.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class RenderRequest:
    preset: str = "720p"
    format: str = "mp4"
    fps: int = 30
    quality: str = "standard"
    use_cache: bool = True


@dataclass(frozen=True)
class JobLog:
    id: str
    status: str
    attempts: int
    worker_name: str | None
    error: str | None
    log: str


def request_of(job: RenderJob) -> RenderRequest:
    """The settings a job was submitted with."""
    return RenderRequest(preset=job.preset, format=job.format, fps=job.fps,
                         quality=job.quality, use_cache=job.use_cache)


def engine_settings(request: RenderRequest):  # type: ignore[no-untyped-def]
    """The render engine's settings for a request."""
    from rendercli.render.timeline import RenderSettings

    return RenderSettings(
        preset=request.preset,
        fmt=request.format,
        fps=request.fps,
        quality=request.quality,
        use_cache=request.use_cache,
    )


def validate_request(request: RenderRequest) -> None:
    """Raise InvalidInput for unknown presets, formats, qualities or frame rates."""
    from rendercli.render.timeline import validate_settings

    validate_settings(engine_settings(request))


def _owned_job(uow: UnitOfWork, user_id: str, job_id: str) -> tuple[RenderJob, str]:
    row = uow.session.execute(
        select(RenderJob, Project.name)
        .join(Project)
        .where(RenderJob.id == job_id, Project.owner_id == user_id)
    ).first()
    if row is None:
        raise NotFound(f"job not found: {job_id}")
    return row[0], row[1]


def _active_job(uow: UnitOfWork, project_id: str) -> RenderJob | None:
    return uow.session.scalars(
        select(RenderJob).where(
            RenderJob.project_id == project_id, RenderJob.status.in_(ACTIVE_JOB_STATUSES)
        )
    ).first()


def submit(uow: UnitOfWork, user_id: str, project_ref: str, request: RenderRequest) -> JobView:
    """Validate and create a queued render job. Raises Conflict if one is already active.

    Nothing is created when the settings or the timeline are invalid. The database's
    partial unique index is what guarantees one active job per project under races.
    """
    from rendercli.render.timeline import validate_timeline
    from rendercli.services.timeline_items import timeline_items

    validate_request(request)
    settings = get_settings()
    with uow:
        project = find_owned(uow, user_id, project_ref)
        assets = uow.session.scalars(select(Asset).where(Asset.project_id == project.id)).all()
        if not any(a.kind in ("video", "image") for a in assets):
            raise InvalidInput(
                f"project {project.name!r} has no video or image assets to render: "
                "add some with `rendercli asset add`"
            )
        validate_timeline(timeline_items(assets, settings.storage_dir))
        job = RenderJob(
            project_id=project.id,
            status="queued",
            preset=request.preset,
            format=request.format,
            fps=request.fps,
            quality=request.quality,
            use_cache=request.use_cache,
        )
        uow.session.add(job)
        try:
            uow.session.flush()
        except IntegrityError:
            uow.rollback()
            active = _active_job(uow, project.id)
            detail = f": {active.id} ({active.status})" if active else ""
            raise Conflict(
                f"project {project.name!r} already has an active render{detail}"
            ) from None
        uow.record_event(
            "render.submitted",
            user_id,
            job_id=job.id,
            project_id=project.id,
            preset=request.preset,
            format=request.format,
        )
        view = job_view(job, project.name)
        uow.commit()
        return view


def get(uow: UnitOfWork, user_id: str, job_id: str) -> JobView:
    """One of the user's jobs."""
    with uow:
        job, name = _owned_job(uow, user_id, job_id)
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
        job, _ = _owned_job(uow, user_id, job_id)
        return JobLog(
            id=job.id,
            status=job.status,
            attempts=job.attempts,
            worker_name=job.worker_name,
            error=job.error,
            log=job.log or "",
        )


def cancel(uow: UnitOfWork, user_id: str, job_id: str) -> JobView:
    """Cancel a queued or processing job. The worker stops its ffmpeg and keeps no output."""
    with uow:
        job, name = _owned_job(uow, user_id, job_id)
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
        uow.commit()
    if was == "queued":
        from rendercli.services import dispatch

        dispatch.forget(job_id)
    return view


def retry(uow: UnitOfWork, user_id: str, job_id: str) -> JobView:
    """Submit a failed or cancelled job again, as a new job with the same settings."""
    with uow:
        job, _ = _owned_job(uow, user_id, job_id)
        if job.status not in ("failed", "cancelled"):
            raise Conflict(
                f"only failed or cancelled jobs can be retried; {job.id} is {job.status}"
            )
        request = request_of(job)
        project_id = job.project_id
    return submit(uow, user_id, project_id, request)
