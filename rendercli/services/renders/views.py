"""What a render job looks like to callers (CLI, watch, JSON), and the read queries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rendercli.db.clock import utcnow
from rendercli.db.rows import Rows, as_bool, as_datetime
from rendercli.db.statuses import ACTIVE_JOB_STATUSES, FINISHED_STATUSES, JOB_STATUSES, JobStatus
from rendercli.errors import InvalidInput, NotFound
from rendercli.repositories import jobs, prefixes
from rendercli.services.projects import owned_project_id

if TYPE_CHECKING:
    from rendercli.config import Settings
    from rendercli.services.renders.tasks import TaskView
    from rendercli.services.unit_of_work import UnitOfWork

__all__ = ["FINISHED_STATUSES", "JobLog", "JobView", "TaskSummary", "get", "get_many",
           "list_jobs", "logs", "owned_job", "owned_views", "task_summaries"]


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
    loudness: float | None  # LUFS target of the mix; None: not normalised
    loudness_lufs: float | None  # what the output measures (ebur128), with a target
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


def task_summaries(rows: Rows, job_ids: list[str]) -> dict[str, TaskSummary]:
    """Tasks done / in all and the workers involved, for the split jobs among these
    (one query)."""
    if not job_ids:
        return {}
    out: dict[str, TaskSummary] = {}
    for row in jobs.task_rows_of_jobs(rows, job_ids):
        summary = out.setdefault(row["job_id"], TaskSummary(0, 0, []))
        worker = row["worker_name"]
        if worker and worker not in summary.workers:
            summary.workers.append(worker)
        out[row["job_id"]] = TaskSummary(summary.done + (row["state"] == JobStatus.COMPLETED),
                                         summary.total + 1, summary.workers)
    return out


UNSAFE_OUTPUT = "the output recorded for this job is not its file in storage: ignored"


def _render_file(settings: Settings, job_id: str, url: str | None) -> str | None:
    """Where the job's output (or poster) is: its file in this machine's storage, or
    with a bucket its ``s3://`` URL; only if the recorded URL names exactly one of the
    job's own files (a tampered row must not make a download read elsewhere)."""
    if not url:
        return None
    from rendercli import storage

    if url.startswith("s3://"):
        return _bucket_file(settings, url, job_id)
    try:
        return str(storage.render_file_from_url(settings.storage_dir, url, job_id))
    except storage.UnsafePath:
        return None


def _bucket_file(settings: Settings, url: str, job_id: str) -> str | None:
    """``url`` if it is ``s3://BUCKET/PREFIX/outputs/<job id>.<ext>`` in this farm's
    bucket (RENDERCLI_STORAGE_URL), else None."""
    from rendercli import storage
    from rendercli.objectstore.names import output_name

    if settings.storage_url is None:
        return None
    where = f"s3://{settings.s3_bucket}/{settings.s3_prefix}"
    name = url[len(where):] if url.startswith(where) else ""
    try:
        if name != output_name(job_id, name.rpartition(".")[2]):
            return None
    except storage.UnsafePath:
        return None
    return url


# The view's fields taken from the row as they are.
_AS_STORED = ("id", "project_id", "project_name", "status", "eta_seconds", "preset", "format",
              "fps", "quality", "loudness", "loudness_lufs", "output_url", "poster_url",
              "output_size", "output_duration", "output_sha256", "attempts", "worker_name")


def view_of(row: Mapping[str, Any], settings: Settings,
            tasks: TaskSummary | None = None) -> JobView:
    """The view of a job row (jobs.VIEW_COLUMNS and project_name), with its task
    summary if it was split over the farm; its files are looked for in the settings'
    storage directory (or bucket)."""
    started, finished = as_datetime(row["started_at"]), as_datetime(row["finished_at"])
    output_path = _render_file(settings, row["id"], row["output_url"])
    elapsed = None if started is None else ((finished or utcnow()) - started).total_seconds()
    return JobView(
        **{name: row[name] for name in _AS_STORED},
        progress=round(row["progress"], 1),
        elapsed_seconds=None if elapsed is None else round(elapsed, 2),
        use_cache=bool(row["use_cache"]),
        output_path=output_path,
        poster_path=_render_file(settings, row["id"], row["poster_url"]),
        cache_hit=as_bool(row["cache_hit"]),
        error=row["error"] or (UNSAFE_OUTPUT if row["output_url"] and output_path is None
                               else None),
        dispatch_pending=row["status"] == JobStatus.QUEUED and row["dispatched_at"] is None,
        created_at=as_datetime(row["created_at"]),  # type: ignore[arg-type]
        started_at=started,
        finished_at=finished,
        heartbeat_at=as_datetime(row["heartbeat_at"]),
        tasks_done=tasks.done if tasks else 0,
        tasks_total=tasks.total if tasks else 0,
        workers=list(tasks.workers) if tasks else [],
    )


def owned_views(uow: UnitOfWork, user_id: str, job_ids: list[str]) -> dict[str, JobView]:
    """The views of those of these job ids that are the user's jobs, by the id as asked
    (a unique prefix of an id stands for it: `repositories.prefixes`)."""
    whole = {ref: prefixes.full_id(uow.rows, "job", user_id, ref) for ref in job_ids}
    found = _views(uow, jobs.owned_job_rows(uow.rows, user_id, list(whole.values())))
    return {ref: found[full] for ref, full in whole.items() if full in found}


def _views(uow: UnitOfWork, found: list[dict[str, Any]]) -> dict[str, JobView]:
    summaries = task_summaries(uow.rows, [row["id"] for row in found])
    return {row["id"]: view_of(row, uow.settings, summaries.get(row["id"]))
            for row in found}


def owned_job(uow: UnitOfWork, user_id: str, job_id: str) -> JobView:
    """The user's job; NotFound for a missing or foreign job."""
    found = owned_views(uow, user_id, [job_id]).get(job_id)
    if found is None:
        raise NotFound(f"job not found: {job_id}")
    return found


def get(uow: UnitOfWork, user_id: str, job_id: str) -> JobView:
    """One of the user's jobs."""
    with uow:
        return owned_job(uow, user_id, job_id)


def get_many(uow: UnitOfWork, user_id: str, job_ids: list[str]) -> list[JobView]:
    """Several of the user's jobs, in the order asked. Raises NotFound for any unknown id."""
    with uow:
        found = owned_views(uow, user_id, job_ids)
    for job_id in job_ids:
        if job_id not in found:
            raise NotFound(f"job not found: {job_id}")
    return [found[j] for j in job_ids]


MAX_BATCH_LISTED = 1000  # jobs a batch command lists or follows


def list_jobs(
    uow: UnitOfWork,
    user_id: str,
    *,
    project_ref: str | None = None,
    status: str | None = None,
    limit: int = 20,
    batch_id: str | None = None,
) -> list[JobView]:
    """The user's jobs, newest first, optionally for one project, one status and/or one
    `render batch`."""
    if status is not None and status not in JOB_STATUSES:
        raise InvalidInput(f"unknown status {status!r}; choose one of {', '.join(JOB_STATUSES)}")
    if not 1 <= limit <= 1000:
        raise InvalidInput("--limit must be between 1 and 1000")
    with uow:
        project_id = (None if project_ref is None
                      else owned_project_id(uow.rows, user_id, project_ref))
        found = jobs.job_rows(uow.rows, user_id, project_id=project_id, status=status,
                              batch_id=batch_id, limit=limit)
        return list(_views(uow, found).values())


def batch_jobs(uow: UnitOfWork, user_id: str, batch_id: str,
               limit: int = MAX_BATCH_LISTED) -> list[JobView]:
    """The jobs of one of the user's `render batch` runs in row order (the order of the
    data file: `render batch` creates them so); NotFound when there are none."""
    with uow:
        found = jobs.job_rows(uow.rows, user_id, batch_id=batch_id, limit=limit,
                              oldest_first=True)
        listed = list(_views(uow, found).values())
    if not listed:
        raise NotFound(f"batch not found: {batch_id}")
    return listed


def logs(uow: UnitOfWork, user_id: str, job_id: str) -> JobLog:
    """The render log: ffmpeg commands, the stderr tail on failure, attempts, worker;
    for a render split over the farm, each task's command, worker and time."""
    from rendercli.services.renders.tasks import task_views

    with uow:
        job = owned_job(uow, user_id, job_id)
        return JobLog(
            id=job.id,
            status=job.status,
            attempts=job.attempts,
            worker_name=job.worker_name,
            error=job.error,
            log=jobs.log_tail(uow.rows, job.id, uow.settings.log_limit) or "",
            tasks=task_views(uow.rows, job.id),
        )
