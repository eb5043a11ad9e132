"""Submitting render jobs: validate the request and the timeline, create the queued job,
and hand it on (the farm queue, or the caller runs it inline on the embedded default)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rendercli.config import get_settings
from rendercli.errors import Conflict, InvalidInput
from rendercli.services.projects import active_job_row, owned_project
from rendercli.services.renders.views import JobView, owned_job, owned_views
from rendercli.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from rendercli.db.models import Asset, RenderJob
    from rendercli.services.items import ItemRow


@dataclass(frozen=True)
class RenderRequest:
    preset: str = "720p"
    format: str = "mp4"
    fps: int = 30
    quality: str = "standard"
    use_cache: bool = True
    loudness: float | None = None  # integrated loudness target, LUFS (EBU R128); None: off


def request_of(job: RenderJob) -> RenderRequest:
    """The settings a job was submitted with."""
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
    check_render_storage()
    with uow:
        project_id, project_name = owned_project(uow.rows, user_id, project_ref)
        check_timeline(uow, project_id, project_name, request)
        row = new_job_row(project_id, request, batch_id=batch_id)
        try:
            uow.rows.run(INSERT_JOB_SQL, **row)
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
        uow.record_event(
            "render.submitted",
            user_id,
            job_id=row["id"],
            project_id=project_id,
            preset=request.preset,
            format=request.format,
        )
        view = owned_views(uow.rows, user_id, [row["id"]])[row["id"]]
        uow.commit()
        return view


# A new render_jobs row: the columns `new_job_row` sets, every other one is NULL (a test
# checks this against the model's columns and defaults, rendercli.db.models.RenderJob).
NEW_JOB_COLUMNS = ("id", "project_id", "status", "progress", "preset", "format", "fps",
                   "quality", "use_cache", "loudness", "batch_id", "attempts", "created_at",
                   "updated_at")
INSERT_JOB_SQL = (f"INSERT INTO render_jobs ({', '.join(NEW_JOB_COLUMNS)}) "
                  f"VALUES ({', '.join(':' + c for c in NEW_JOB_COLUMNS)})")


def new_job_row(project_id: str, request: RenderRequest, *,
                batch_id: str | None = None) -> dict[str, Any]:
    """The values of a new queued job's row, as the model's defaults would make it."""
    from rendercli.db.clock import utcnow
    from rendercli.db.ids import new_id

    now = utcnow()
    return {"id": new_id(), "project_id": project_id, "status": "queued", "progress": 0.0,
            "preset": request.preset, "format": request.format, "fps": request.fps,
            "quality": request.quality, "use_cache": request.use_cache,
            "loudness": request.loudness, "batch_id": batch_id, "attempts": 0,
            "created_at": now, "updated_at": now}


def check_timeline(uow: UnitOfWork, project_id: str, project_name: str,
                   request: RenderRequest,
                   assets: Sequence[Asset | ItemRow] | None = None,
                   default_fit: str | None = None) -> None:
    """InvalidInput unless the project's timeline renders as the engine will render it
    (``assets``: its items, ``read_items``, and ``default_fit``: the
    project's ``project_fit``, if already read)."""
    from rendercli.render.subtitles import check_fonts
    from rendercli.render.timeline import PICTURE_KINDS, validate_timeline
    from rendercli.services.items import read_items
    from rendercli.services.renders.timeline import project_fit, timeline_items

    if assets is None:
        assets = read_items(uow.rows, project_id)  # the timeline load `render frame` uses
    if not any(a.kind in PICTURE_KINDS for a in assets):
        raise InvalidInput(
            f"project {project_name!r} has no video or image assets (or titles) to "
            "render: add some with `rendercli asset add` or `rendercli title add`"
        )
    items = timeline_items(assets, get_settings().storage_dir,
                           default_fit or project_fit(uow.rows, project_id))
    validate_timeline(items, request.fps)  # on the frame grid: transitions fit
    check_fonts(items, engine_settings(request))


def retry(uow: UnitOfWork, user_id: str, job_id: str) -> JobView:
    """Submit a failed or cancelled job again, as a new job with the same settings."""
    with uow:
        job, _ = owned_job(uow, user_id, job_id)
        if job.status not in ("failed", "cancelled"):
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


def check_render_storage() -> None:
    """Embedded (this process renders): a storage that cannot take writes (full, over
    quota, read-only) is one clear error before any job row exists, instead of a job
    that fails at its first write. A farm's workers write, not the submitting client."""
    settings = get_settings()
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
    return _hand_on(submit(uow, user_id, project_ref, request, batch_id=batch_id))


def start_retry(uow: UnitOfWork, user_id: str, job_id: str) -> Started:
    """Retry a failed or cancelled job (see `retry`) and hand the new job on like `start`."""
    return _hand_on(retry(uow, user_id, job_id))


def _hand_on(job: JobView) -> Started:
    if get_settings().is_embedded:
        return Started(job, inline=True)
    from rendercli.services.renders import dispatch

    return Started(job, inline=False, dispatch_pending=dispatch.enqueue(job.id))
