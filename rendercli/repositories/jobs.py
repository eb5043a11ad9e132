"""render_jobs and render_tasks rows: the one home of their SQL.

A worker's hold on a job (`JobClaim`) or a task (`TaskClaim`) is taken by one guarded
UPDATE; its attempt number fences the worker out once the row is taken away. A job's
log is kept to the newest RENDERCLI_LOG_LIMIT characters, and read cut in the database
(`log_tail`): a raw-SQL client can write up to 1 GB into its own job's log. Ownership:
the caller's jobs are read through JOBS_SQL; other functions act on ids a service
already checked, or on a worker's claim.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TypeVar

from rendercli.db.clock import utcnow
from rendercli.db.ids import new_id
from rendercli.db.rows import Rows, as_datetime, insert, skip_locked
from rendercli.db.statuses import JobStatus, TaskState
from rendercli.errors import DatabaseUnreachable

log = logging.getLogger(__name__)
T = TypeVar("T")

QUEUED, PROCESSING = JobStatus.QUEUED, JobStatus.PROCESSING
COMPLETED, FAILED, CANCELLED = JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED


@dataclass(frozen=True)
class JobClaim:
    job_id: str
    worker_name: str
    attempt: int
    owner_id: str
    project_id: str


@dataclass(frozen=True)
class TaskClaim:
    task_id: str
    job_id: str
    kind: str
    label: str
    cache_key: str | None
    worker_name: str
    attempt: int
    owner_id: str


def database_away(exc: BaseException) -> bool:
    """An operational error (either driver, bare or wrapped) or a connection that could
    not be made (DatabaseUnreachable): worth retrying."""
    return isinstance(exc, DatabaseUnreachable) or any(
        cls.__name__ == "OperationalError" for cls in type(exc).__mro__)


def with_db_retry(fn: Callable[[], T], *, attempts: int = 6, first_delay: float = 0.5) -> T:
    """Run a short transaction again if the database connection drops (e.g. a restart)."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts or not database_away(exc):
                raise
            log.warning("database unavailable (%s); retrying in %.1f s",
                        getattr(exc, "orig", None) or exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")


def append_log(text: str, existing: str | None, limit: int) -> str:
    """A job's log with `text` appended, kept to the newest `limit` characters
    (RENDERCLI_LOG_LIMIT)."""
    return ((existing or "") + text)[-limit:]


def log_tail(rows: Rows, job_id: str, limit: int) -> str | None:
    """A job's log as `append_log` keeps it, cut in the database."""
    return rows.scalar(
        "SELECT CASE WHEN length(log) > :limit THEN substr(log, length(log) - :limit + 1) "
        "ELSE log END AS log FROM render_jobs WHERE id = :id",
        id=job_id, limit=limit)


def add_to_log(rows: Rows, job_id: str, text: str, limit: int) -> None:
    """Append to a job's log whatever its state (kept to `limit` characters)."""
    rows.run("UPDATE render_jobs SET log = :log WHERE id = :id", id=job_id,
             log=append_log(text, log_tail(rows, job_id, limit), limit))


def _update(rows: Rows, table: str, values: Mapping[str, Any], where: str,
            **params: Any) -> bool:
    """UPDATE `table` SET `values` WHERE `where` (names ours): True when one row changed."""
    sets = {f"set_{name}": value for name, value in values.items()}
    return rows.run(f"UPDATE {table} SET {', '.join(f'{n} = :set_{n}' for n in values)} "
                    f"WHERE {where}", **sets, **params) == 1


def _in(prefix: str, ids: list[str]) -> tuple[str, dict[str, str]]:
    params = {f"{prefix}{n}": value for n, value in enumerate(ids)}
    return ", ".join(f":{name}" for name in params) or "NULL", params


# A new render_jobs row: the columns `new_job_row` sets, every other one is NULL (a test
# checks this against the model's columns and defaults, rendercli.db.models.RenderJob).
NEW_JOB_COLUMNS = ("id", "project_id", "owner_id", "status", "progress", "preset", "format",
                   "fps", "quality", "use_cache", "loudness", "batch_id", "attempts",
                   "created_at", "updated_at")


def new_job_row(project_id: str, owner_id: str, *, batch_id: str | None = None,
                **settings: Any) -> dict[str, Any]:
    """A new queued job's row, as the model's defaults would make it; `settings`: a
    RenderRequest's preset, format, fps, quality, use_cache and loudness."""
    now = utcnow()
    return {"id": new_id(), "project_id": project_id, "owner_id": owner_id,
            "status": QUEUED.value, "progress": 0.0,
            **settings, "batch_id": batch_id, "attempts": 0, "created_at": now, "updated_at": now}


def insert_job(rows: Rows, row: Mapping[str, Any]) -> None:
    """Insert a `new_job_row` (a project's second active job: an integrity error)."""
    insert(rows, "render_jobs", {c: row[c] for c in NEW_JOB_COLUMNS})


JOB_SETTINGS = ("project_id", "preset", "format", "fps", "quality", "use_cache", "loudness")


def job_row(rows: Rows, job_id: str) -> dict[str, Any] | None:
    """A job's render settings, and its project's default fit (`project_fit`)."""
    return rows.one(f"SELECT {', '.join('j.' + c for c in JOB_SETTINGS)}, "
                    "p.fit AS project_fit FROM render_jobs AS j "
                    "JOIN projects AS p ON p.id = j.project_id WHERE j.id = :id", id=job_id)


def claim_job(rows: Rows, job_id: str, worker_name: str) -> JobClaim | None:
    """Move a queued job to processing for this worker; None if it is not queued."""
    now = utcnow()
    taken = rows.run(
        f"UPDATE render_jobs SET status = '{PROCESSING}', worker_name = :worker, "
        "started_at = :now, heartbeat_at = :now, updated_at = :now, progress = 0.0, "
        "eta_seconds = NULL, attempts = attempts + 1, error = NULL "
        f"WHERE id = :id AND status = '{QUEUED}'", id=job_id, worker=worker_name, now=now)
    if taken != 1:
        return None
    row = rows.one("SELECT attempts, owner_id, project_id FROM render_jobs WHERE id = :id",
                   id=job_id)
    assert row is not None
    return JobClaim(job_id, worker_name, row["attempts"], row["owner_id"], row["project_id"])


# A claim's fence (its fields are the parameters): processing under this worker and attempt.
_JOB_FENCE = (f"id = :job_id AND status = '{PROCESSING}' AND worker_name = :worker_name "
              "AND attempts = :attempt")


def update_claimed_job(rows: Rows, claim: JobClaim, **values: Any) -> bool:
    """Change the job while it is processing under this claim; False if it is not."""
    return _update(rows, "render_jobs", values, _JOB_FENCE, **asdict(claim))


def job_still_claimed(rows: Rows, claim: JobClaim) -> bool:
    """True while the job is processing under this claim (not cancelled, not handed over)."""
    return rows.one(f"SELECT 1 AS ours FROM render_jobs WHERE {_JOB_FENCE}",
                    **asdict(claim)) is not None


def finish_job(rows: Rows, job_id: str, status: JobStatus, note: str,
               claim: JobClaim | None = None, *, log_limit: int, **values: Any) -> bool:
    """Move a processing job (under `claim`, if given) to `status`, appending `note` to
    its log (kept to `log_limit` characters); False if it is not (or no longer ours)."""
    now = utcnow()
    values = {"status": status.value, "finished_at": now, "updated_at": now, **values,
              "log": append_log(note, log_tail(rows, job_id, log_limit), log_limit)}
    if claim is not None:
        return update_claimed_job(rows, claim, **values)
    return _update(rows, "render_jobs", values, f"id = :id AND status = '{PROCESSING}'",
                   id=job_id)


def cancel_job(rows: Rows, job_id: str, now: datetime) -> bool:
    """Cancel an active job (the caller checked it is the user's)."""
    return rows.run(
        f"UPDATE render_jobs SET status = '{CANCELLED}', cancel_requested_at = :now, "
        "finished_at = :now, updated_at = :now, eta_seconds = NULL "
        f"WHERE id = :id AND status IN ('{QUEUED}', '{PROCESSING}')", id=job_id, now=now) == 1


def fail_orphaned_queued(rows: Rows, cutoff: datetime, now: datetime) -> list[str]:
    """Fail queued jobs created before `cutoff` (embedded: their submitter died)."""
    return [r["id"] for r in rows.all(
        f"UPDATE render_jobs SET status = '{FAILED}', finished_at = :now, updated_at = :now, "
        f"error = :error WHERE status = '{QUEUED}' AND created_at < :cutoff RETURNING id",
        cutoff=cutoff, now=now, error="the rendering process stopped before the render started")]


def stale_jobs(rows: Rows, cutoff: datetime) -> list[dict[str, Any]]:
    """Processing jobs not split into tasks whose heartbeat is older than `cutoff`
    (rows another session holds wait for a later sweep)."""
    return rows.all(
        "SELECT id, attempts, worker_name FROM render_jobs AS j "
        f"WHERE status = '{PROCESSING}' AND heartbeat_at < :cutoff AND NOT EXISTS "
        f"(SELECT 1 FROM render_tasks AS t WHERE t.job_id = j.id){skip_locked(rows)}",
        cutoff=cutoff)


def update_if_stale(rows: Rows, table: str, row_id: str, attempts: int, cutoff: datetime,
                    **values: Any) -> bool:
    """Change a stale job or task (`table`) if it is still as seen: processing, the same
    attempt, its heartbeat older than `cutoff`."""
    state = "status" if table == "render_jobs" else "state"
    return _update(rows, table, values, f"id = :id AND {state} = '{PROCESSING}' AND "
                   "attempts = :attempts AND heartbeat_at < :cutoff",
                   id=row_id, attempts=attempts, cutoff=cutoff)


def queued_jobs(rows: Rows) -> list[dict[str, Any]]:
    """(id, dispatched_at) of every queued job, oldest first."""
    return rows.all(f"SELECT id, dispatched_at FROM render_jobs WHERE status = '{QUEUED}' "
                    "ORDER BY created_at")


def undispatched_jobs(rows: Rows, before: datetime, limit: int) -> list[str]:
    """Ids of the oldest queued jobs never dispatched, created before `before`."""
    return [r["id"] for r in rows.all(
        f"SELECT id FROM render_jobs WHERE status = '{QUEUED}' AND dispatched_at IS NULL "
        "AND created_at < :before ORDER BY created_at, id LIMIT :limit",
        before=before, limit=max(0, int(limit)))]


def mark_jobs_dispatched(rows: Rows, job_ids: list[str]) -> None:
    """Note that these jobs, if still queued, are on the queue. A row someone holds
    locked is not waited for: unmarked, the next sweep looks at it again."""
    ids, params = _in("id", job_ids)
    rows.run("UPDATE render_jobs SET dispatched_at = :now WHERE id IN (SELECT id "
             f"FROM render_jobs WHERE status = '{QUEUED}' AND id IN ({ids})"
             f"{skip_locked(rows)})", now=utcnow(), **params)


def refuse_job(rows: Rows, job_id: str, error: str) -> None:
    """Fail a queued job that cannot be dispatched."""
    now = utcnow()
    rows.run(f"UPDATE render_jobs SET status = '{FAILED}', error = :error, "
             "finished_at = :now, updated_at = :now "
             f"WHERE id = :id AND status = '{QUEUED}'", id=job_id, now=now, error=error)


def stale_probe(rows: Rows, cutoff: datetime, *, orphaned_queued: bool) -> bool:
    """True when a job or a task stopped heartbeating before `cutoff` (or, with
    `orphaned_queued`, a queued job is older): one statement, through the indexes."""
    orphaned = (f" OR (j.status = '{QUEUED}' AND j.created_at < :cutoff)"
                if orphaned_queued else "")
    return bool(rows.all(
        "SELECT 1 AS due FROM (SELECT 1 AS one FROM render_jobs AS j WHERE "
        f"(j.status = '{PROCESSING}' AND j.heartbeat_at < :cutoff){orphaned} "
        "UNION ALL SELECT 1 AS one FROM render_tasks AS t WHERE "
        f"t.state = '{TaskState.PROCESSING}' AND t.heartbeat_at < :cutoff) AS stale LIMIT 1",
        cutoff=cutoff))


_JOB_PROCESSING = (f"EXISTS (SELECT 1 FROM render_jobs AS pj WHERE pj.id = render_tasks.job_id"
                   f" AND pj.status = '{PROCESSING}')")
_TASK_FENCE = (f"id = :task_id AND state = '{TaskState.PROCESSING}' AND "
               f"worker_name = :worker_name AND attempts = :attempt AND {_JOB_PROCESSING}")


def has_tasks(rows: Rows, job_id: str) -> bool:
    return rows.one("SELECT id FROM render_tasks WHERE job_id = :id LIMIT 1",
                    id=job_id) is not None


def insert_tasks(rows: Rows, job_id: str, tasks: list[tuple[str, str, str | None, float]],
                 now: datetime) -> list[tuple[str, str]]:
    """Insert a job's tasks, (kind, label, cache_key, weight) in order, queued; returns
    their (id, kind)."""
    made = [{"id": new_id(), "job_id": job_id, "seq": seq, "kind": kind, "label": label,
             "cache_key": cache_key, "weight": weight, "state": TaskState.QUEUED.value,
             "progress": 0.0, "attempts": 0, "created_at": now}
            for seq, (kind, label, cache_key, weight) in enumerate(tasks)]
    insert(rows, "render_tasks", *made)  # in as few statements as the limits allow
    return [(task["id"], task["kind"]) for task in made]


def claim_task(rows: Rows, task_id: str, worker_name: str) -> TaskClaim | None:
    """Move a queued task of a processing job to processing (see tasks.claim)."""
    now = utcnow()
    taken = rows.run(
        f"UPDATE render_tasks SET state = '{TaskState.PROCESSING}', worker_name = :worker, "
        "started_at = :now, heartbeat_at = :now, progress = 0.0, error = NULL, "
        "finished_at = NULL, attempts = attempts + 1 "
        f"WHERE id = :id AND state = '{TaskState.QUEUED}' AND {_JOB_PROCESSING} "
        "AND (kind != 'assemble' OR NOT EXISTS (SELECT 1 FROM render_tasks AS s WHERE "
        "s.job_id = render_tasks.job_id AND s.id != render_tasks.id "
        f"AND s.state != '{TaskState.COMPLETED}'))", id=task_id, worker=worker_name, now=now)
    if taken != 1:
        return None
    row = rows.one(
        "SELECT t.job_id, t.kind, t.label, t.cache_key, t.attempts, j.owner_id "
        "FROM render_tasks AS t JOIN render_jobs AS j ON j.id = t.job_id WHERE t.id = :id",
        id=task_id)
    assert row is not None
    # Not the whole row: a client may have written a huge log into its own job.
    rows.run("UPDATE render_jobs SET heartbeat_at = :now WHERE id = :id",
             id=row["job_id"], now=now)
    return TaskClaim(task_id, row["job_id"], row["kind"], row["label"], row["cache_key"],
                     worker_name, row["attempts"], row["owner_id"])


def update_claimed_task(rows: Rows, tc: TaskClaim, **values: Any) -> bool:
    """Change the task while it (and its job) is processing under this claim."""
    return _update(rows, "render_tasks", values, _TASK_FENCE, **asdict(tc))


def task_still_claimed(rows: Rows, tc: TaskClaim) -> bool:
    return rows.one(f"SELECT 1 AS ours FROM render_tasks WHERE {_TASK_FENCE}",
                    **asdict(tc)) is not None


def aggregate_progress(rows: Rows, job_id: str, now: datetime) -> None:
    """The job's progress: its tasks' progress weighted by cost; its heartbeat: now."""
    found = rows.all("SELECT weight, progress, state FROM render_tasks WHERE job_id = :id",
                     id=job_id)
    total = sum(max(0.0, r["weight"]) for r in found)
    if total <= 0:
        return
    done = sum(max(0.0, r["weight"]) * (100.0 if r["state"] == TaskState.COMPLETED
                                        else min(100.0, max(0.0, r["progress"])))
               for r in found) / total
    job = rows.one("SELECT status, progress, started_at FROM render_jobs WHERE id = :id",
                   id=job_id)
    if job is None or job["status"] != PROCESSING:
        return
    percent = min(99.9, done)
    values: dict[str, Any] = {"heartbeat_at": now}
    started = as_datetime(job["started_at"])
    if percent > job["progress"]:
        values["progress"] = round(percent, 1)
        if started is not None and percent >= 1.0:
            elapsed = (now - started).total_seconds()
            values["eta_seconds"] = round(elapsed * (100.0 - percent) / percent, 1)
    _update(rows, "render_jobs", values, "id = :id", id=job_id)


def stop_job_tasks(rows: Rows, job_id: str, now: datetime) -> int:
    """Cancel a job's queued and processing tasks (inside the caller's transaction):
    their workers see it within a second and stop their ffmpeg."""
    return rows.run(
        f"UPDATE render_tasks SET state = '{CANCELLED}', finished_at = :now WHERE job_id = :id "
        f"AND state IN ('{TaskState.QUEUED}', '{TaskState.PROCESSING}')", id=job_id, now=now)


def task_of(rows: Rows, task_id: str) -> dict[str, Any] | None:
    return rows.one("SELECT job_id, label, attempts FROM render_tasks WHERE id = :id",
                    id=task_id)


def mark_tasks_dispatched(rows: Rows, task_ids: list[str]) -> None:
    """Rows someone holds locked are skipped, not waited for (see rows.skip_locked)."""
    ids, params = _in("id", task_ids)
    rows.run("UPDATE render_tasks SET dispatched_at = :now WHERE id IN (SELECT id FROM "
             f"render_tasks WHERE id IN ({ids}) AND state = '{TaskState.QUEUED}'"
             f"{skip_locked(rows)})", now=utcnow(), **params)


def stale_tasks(rows: Rows, cutoff: datetime) -> list[dict[str, Any]]:
    """Processing tasks of processing jobs whose heartbeat is older than `cutoff`."""
    return rows.all(
        "SELECT id, job_id, attempts, worker_name, label FROM render_tasks "
        f"WHERE state = '{TaskState.PROCESSING}' AND heartbeat_at < :cutoff AND "
        f"{_JOB_PROCESSING}{skip_locked(rows)}", cutoff=cutoff)


def locked_job_status(rows: Rows, job_id: str) -> str | None:
    """The job's status, its row taken; None if another session holds it (or no job)."""
    return rows.scalar(f"SELECT status FROM render_jobs WHERE id = :id{skip_locked(rows)}",
                       id=job_id)


def tasks_of(rows: Rows, job_id: str) -> list[dict[str, Any]]:
    """A job's task rows in order."""
    return rows.all(
        "SELECT id, seq, kind, label, state, progress, weight, attempts, worker_name, "
        "command, error, created_at, started_at, finished_at, dispatched_at "
        "FROM render_tasks WHERE job_id = :id ORDER BY seq", id=job_id)


def queued_tasks(rows: Rows) -> list[tuple[str, str, str, datetime | None]]:
    """(task id, job id, kind, dispatched_at) of queued tasks of processing jobs."""
    return [(r["id"], r["job_id"], r["kind"], as_datetime(r["dispatched_at"]))
            for r in rows.all(
                "SELECT id, job_id, kind, dispatched_at FROM render_tasks "
                f"WHERE state = '{TaskState.QUEUED}' AND {_JOB_PROCESSING} "
                "ORDER BY job_id, seq")]


def ready_to_assemble(rows: Rows, job_ids: list[str]) -> set[str]:
    """The jobs among `job_ids` whose tasks other than the assemble are all completed."""
    if not job_ids:
        return set()
    ids, params = _in("job", job_ids)
    unfinished = rows.all(
        f"SELECT job_id FROM render_tasks WHERE job_id IN ({ids}) AND kind != 'assemble' "
        f"AND state != '{TaskState.COMPLETED}'", **params)
    return set(job_ids) - {r["job_id"] for r in unfinished}


# The render_jobs columns a view is made of, in the order of JOBS_SQL's select list.
VIEW_COLUMNS = (
    "id", "project_id", "status", "progress", "eta_seconds", "preset", "format", "fps",
    "quality", "use_cache", "loudness", "loudness_lufs", "output_url", "poster_url",
    "output_size", "output_duration", "output_sha256", "cache_hit", "error", "attempts",
    "worker_name", "dispatched_at", "created_at", "started_at", "finished_at", "heartbeat_at",
)
# The user's jobs: ownership is the join on the project's owner.
JOBS_SQL = (
    "SELECT " + ", ".join(f"j.{c}" for c in VIEW_COLUMNS) + ", p.name AS project_name "
    "FROM render_jobs AS j JOIN projects AS p ON p.id = j.project_id "
    "WHERE j.owner_id = :user_id"
)


def owned_job_rows(rows: Rows, user_id: str, job_ids: list[str]) -> list[dict[str, Any]]:
    """The rows (JOBS_SQL's columns) of those of these job ids that are the user's."""
    found: dict[str, dict[str, Any]] = {}
    for job_id in dict.fromkeys(job_ids):
        for row in rows.all(JOBS_SQL + " AND j.id = :job_id", user_id=user_id, job_id=job_id):
            found[row["id"]] = row
    return list(found.values())


def job_rows(rows: Rows, user_id: str, *, project_id: str | None = None,
             status: str | None = None, batch_id: str | None = None,
             limit: int = 20, oldest_first: bool = False) -> list[dict[str, Any]]:
    """The user's jobs, newest first (or oldest first: a batch's in row order),
    optionally for one project, status or batch."""
    sql, params = JOBS_SQL, {"user_id": user_id, "limit": limit}
    for name, value in (("project_id", project_id), ("status", status),
                        ("batch_id", batch_id)):
        if value is not None:
            sql += f" AND j.{name} = :{name}"
            params[name] = str(value)
    order = "ASC" if oldest_first else "DESC"
    return rows.all(sql + f" ORDER BY j.created_at {order}, j.id {order} LIMIT :limit",
                    **params)


def view_row(rows: Rows, job_id: str) -> dict[str, Any] | None:
    """A job's view row by id alone (a worker's own claim: not an owner's read)."""
    return rows.one(JOBS_SQL.split(" WHERE ")[0] + " WHERE j.id = :job_id", job_id=job_id)


def task_rows_of_jobs(rows: Rows, job_ids: list[str]) -> list[dict[str, Any]]:
    """(job_id, state, worker_name) of these jobs' tasks, by start. Only for job ids
    already found among the caller's jobs (ownership is checked there)."""
    ids, params = _in("job", list(dict.fromkeys(job_ids)))
    return rows.all(f"SELECT job_id, state, worker_name FROM render_tasks WHERE job_id IN "
                    f"({ids}) ORDER BY job_id, started_at, seq", **params)

