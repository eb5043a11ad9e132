"""What a render job looks like to callers (CLI, watch, JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urlparse

from rendercli.db.models import ACTIVE_JOB_STATUSES, RenderJob
from rendercli.db.types import utcnow

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

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES


def path_from_url(url: str | None) -> str | None:
    if not url:
        return None
    return unquote(urlparse(url).path)


def job_view(job: RenderJob, project_name: str) -> JobView:
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
    )
