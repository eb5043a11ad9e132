"""Submitting render jobs: validate the request and the timeline, create the queued job,
and hand it on (the farm queue, or the caller runs it inline on the embedded default)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from rendercli.db.statuses import JobStatus
from rendercli.errors import Conflict
from rendercli.repositories import jobs
from rendercli.services.projects import active_job_row, owned_project
from rendercli.services.renders.views import JobView, owned_job, owned_views
from rendercli.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from rendercli.config import Settings


@dataclass(frozen=True)
class RenderRequest:
    preset: str = "720p"
    format: str = "mp4"
    fps: int = 30
    quality: str = "standard"
    use_cache: bool = True
    loudness: float | None = None  # integrated loudness target, LUFS (EBU R128); None: off


def request_of(job: Any) -> RenderRequest:
    """The settings a job (a JobView or a row object) was submitted with."""
    return RenderRequest(preset=job.preset, format=job.format, fps=job.fps,
                         quality=job.quality, use_cache=job.use_cache,
                         loudness=job.loudness)


def engine_settings(request: RenderRequest):  # type: ignore[no-untyped-def]
    """The render engine's settings for a request."""
    from rendercli.render.timeline import RenderSettings

    return RenderSettings(
        preset=request.preset,
        fmt=request.format,
        fps=request.fps,
        quality=request.quality,
        use_cache=request.use_cache,
        loudness=request.loudness,
    )


def validate_request(request: RenderRequest) -> None:
    """Raise InvalidInput for unknown presets, formats, qualities or frame rates."""
    from rendercli.render.timeline import validate_settings

    validate_settings(engine_settings(request))


def submit(uow: UnitOfWork, user_id: str, project_ref: str, request: RenderRequest,
           *, batch_id: str | None = None) -> JobView:
    """Validate and create a queued render job. Raises Conflict if one is already active.

    Nothing is created when the settings or the timeline are invalid. The database's
    partial unique index is what guarantees one active job per project under races.
    """
    validate_request(request)
    check_render_storage(uow.settings)
    with uow:
        project_id, project_name = owned_project(uow.rows, user_id, project_ref)
        try:
            row = _insert_job(uow, project_id, user_id, project_name, request,
                              batch_id=batch_id)
        except Exception as exc:
            from rendercli.db.rows import integrity_error

            if not integrity_error(exc):
                raise
            uow.rollback()
            active = active_job_row(uow.rows, project_id)
            detail = f": {active['id']} ({active['status']})" if active else ""
            raise Conflict(
                f"project {project_name!r} already has an active render{detail}"
            ) from None
        uow.record_event("render.submitted", user_id, job_id=row["id"],
                         project_id=project_id, preset=request.preset, format=request.format)
        view = owned_views(uow, user_id, [row["id"]])[row["id"]]
        uow.commit()
        return view


def _insert_job(uow: UnitOfWork, project_id: str, owner_id: str, project_name: str,
                request: RenderRequest, *, batch_id: str | None) -> dict[str, Any]:
    """Check the timeline (`timeline.check_timeline` on the request's frame grid) and
    insert the queued job (an integrity error if the project has an active one: the
    database's partial unique index decides under races)."""
    from rendercli.services.renders.timeline import check_timeline

    check_timeline(uow, project_id, settings=engine_settings(request),
                   project_name=project_name)
    row = jobs.new_job_row(project_id, owner_id, **asdict(request), batch_id=batch_id)
    jobs.insert_job(uow.rows, row)
    return row


def retry(uow: UnitOfWork, user_id: str, job_id: str) -> JobView:
    """Submit a failed or cancelled job again, as a new job with the same settings."""
    with uow:
        job = owned_job(uow, user_id, job_id)
        if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise Conflict(
                f"only failed or cancelled jobs can be retried; {job.id} is {job.status}"
            )
        request = request_of(job)
        project_id = job.project_id
    return submit(uow, user_id, project_id, request)


@dataclass(frozen=True)
class Started:
    """A submitted job, handed on: queued in the farm, or for the caller to run now."""

    job: JobView
    inline: bool  # embedded default: the caller runs it now (execute.execute)
    dispatch_pending: str | None = None  # farm: why it is not on the queue yet, if so


def check_render_storage(settings: Settings) -> None:
    """Embedded (this process renders): a storage that cannot take writes (full, over
    quota, read-only) is one clear error before any job row exists, instead of a job
    that fails at its first write. A farm's workers write, not the submitting client."""
    if settings.is_embedded:
        from rendercli import storage

        storage.check_writable(settings.storage_dir)


def start(uow: UnitOfWork, user_id: str, project_ref: str, request: RenderRequest,
          *, batch_id: str | None = None) -> Started:
    """Submit a render and hand it on: the farm queue, or (embedded) back to the caller.

    This is "submit" for every command that starts a render (`render submit`, `demo`);
    `start_retry` is the same for `jobs retry`. `batch_id` groups the jobs of a
    `render batch`.
    """
    return _hand_on(uow, submit(uow, user_id, project_ref, request, batch_id=batch_id))


def start_retry(uow: UnitOfWork, user_id: str, job_id: str) -> Started:
    """Retry a failed or cancelled job (see `retry`) and hand the new job on like `start`."""
    return _hand_on(uow, retry(uow, user_id, job_id))


def _hand_on(uow: UnitOfWork, job: JobView) -> Started:
    from rendercli.services.renders import dispatch

    if uow.settings.is_embedded:
        return Started(job, inline=True)
    return Started(job, inline=False, dispatch_pending=dispatch.enqueue(job.id, uow=uow))
