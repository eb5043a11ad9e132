"""A render split over the farm: its task rows and every change of a task's state.

In farm mode a worker that claims a job may split it (`split`): one task per segment
not in the cache, one for the soundtrack, and an assemble task (join, mux, poster,
publish) that RQ releases once every other task's RQ job has finished (see
`dispatch.enqueue_tasks`). The rows are the truth; RQ jobs only wake workers.

Tasks are claimed like jobs (see lifecycle.py): one guarded UPDATE, and the attempt
number taken at claim time fences the worker. A task can only be claimed, heartbeated
or finished while its job is processing, so cancelling or failing the job stops every
task of it. The assemble task is only claimable once all its siblings completed.
Recovery (`recover_stale`) hands back a task whose worker stopped heartbeating;
completed tasks are never redone.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from rendercli.db.clock import utcnow
from rendercli.db.rows import as_datetime, lock_timed_out
from rendercli.db.statuses import JobStatus, TaskState
from rendercli.repositories import jobs
from rendercli.repositories.jobs import JobClaim, TaskClaim, with_db_retry
from rendercli.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from rendercli.db.rows import Rows
    from rendercli.render.engine import PreparedRender

log = logging.getLogger(__name__)
T = TypeVar("T")


# How long a claim waits for a row lock before passing the job or task by. Rendercli's
# own transactions hold rows for milliseconds; a client may lock its own rows and sit
# on them, and a worker must not spend its retries (minutes) on each such hand-out.
CLAIM_LOCK_WAIT = 1.0  # seconds (or RENDERCLI_LOCK_TIMEOUT if shorter)


def claim_or_pass(run: Callable[[Rows], T | None], uow: UnitOfWork) -> T | None:
    """Run a claim's transaction (``run(rows)``, which commits) waiting at most
    CLAIM_LOCK_WAIT for a row lock (PostgreSQL); a row held longer is passed by (None),
    and the reconciler hands it out again later. Dropped connections are retried."""
    wait = max(1, round(min(uow.settings.lock_timeout, CLAIM_LOCK_WAIT) * 1000))

    def attempt() -> T | None:
        with uow:
            if uow.rows.postgres:
                uow.rows.run(f"SET LOCAL lock_timeout = {wait}")
            try:
                found = run(uow.rows)
                uow.commit()
                return found
            except Exception as exc:
                if not lock_timed_out(exc):
                    raise
        log.warning("passed by a row another session has held locked for over %d ms "
                    "(left for a later hand-out)", wait)
        return None

    return with_db_retry(attempt)


@dataclass(frozen=True)
class NewTask:
    id: str
    kind: str


def split(claim: JobClaim, prepared: PreparedRender, *, uow: UnitOfWork) -> list[NewTask]:
    """Create the task rows of a claimed job (in one transaction): its pending segments
    in timeline order, the soundtrack (unless cached), then the assemble task. Returns
    them; [] if the job is no longer ours or already split (nothing is written then)."""
    pending = prepared.pending_segments()
    soundtrack = prepared.soundtrack_pending()  # none for gif, or when it is cached
    planned: list[tuple[str, str, str | None, float]] = [
        ("segment", segment.label, key, prepared.segment_weight(key))
        for key, segment in pending]
    if soundtrack:
        planned.append(("soundtrack", "soundtrack", None, prepared.soundtrack_weight))
    planned.append(("assemble", "assemble", None, prepared.assemble_weight))

    def run() -> list[NewTask]:
        now = utcnow()
        with uow:
            rows = uow.rows
            if jobs.has_tasks(rows, claim.job_id) or not jobs.update_claimed_job(
                    rows, claim, heartbeat_at=now, updated_at=now):
                return []
            made = jobs.insert_tasks(rows, claim.job_id, planned, now)
            jobs.add_to_log(rows, claim.job_id,
                            f"[{now.isoformat()}] split into {len(made)} tasks: "
                            f"{len(pending)} segments"
                            f"{', the soundtrack' if soundtrack else ''} and the assemble; "
                            f"{len(prepared.unique_keys) - len(pending)} segments already "
                            "cached\n", uow.settings.log_limit)
            uow.commit()
            return [NewTask(task_id, kind) for task_id, kind in made]

    return with_db_retry(run)


def claim(task_id: str, worker_name: str, *, uow: UnitOfWork) -> TaskClaim | None:
    """Move a queued task of a processing job to processing for this worker; None if it
    is not claimable (taken, finished, its job not processing, or -- the assemble task --
    a sibling not completed yet)."""
    return claim_or_pass(lambda rows: jobs.claim_task(rows, task_id, worker_name),
                              uow)


def heartbeat(tc: TaskClaim, *, progress: float | None = None, uow: UnitOfWork) -> bool:
    """Record that the task's worker is alive (and its progress), and update the job's
    overall progress. False: the task is no longer ours (or its job stopped)."""
    now = utcnow()
    values: dict[str, object] = {"heartbeat_at": now}
    if progress is not None:
        values["progress"] = max(0.0, min(100.0, progress))
    with uow:
        if not jobs.update_claimed_task(uow.rows, tc, **values):
            return False
        jobs.aggregate_progress(uow.rows, tc.job_id, now)
        uow.commit()
        return True


def still_ours(tc: TaskClaim, *, uow: UnitOfWork) -> bool:
    """True while the task is processing under this claim and its job is processing."""
    with uow:
        return jobs.task_still_claimed(uow.rows, tc)


def _done(uow: UnitOfWork, tc: TaskClaim, argvs: list[list[str]], now: datetime) -> bool:
    commands = "".join("$ " + shlex.join(a) + "\n" for a in argvs if a)
    return jobs.update_claimed_task(uow.rows, tc, state=TaskState.COMPLETED.value, progress=100.0,
                                    finished_at=now, heartbeat_at=now,
                                    command=commands[:uow.settings.command_limit])


def complete(tc: TaskClaim, argvs: list[list[str]], *, uow: UnitOfWork) -> bool:
    """Mark the task done (with the commands it ran). False if it stopped being ours."""

    def run() -> bool:
        now = utcnow()
        with uow:
            if not _done(uow, tc, argvs, now):
                return False
            jobs.aggregate_progress(uow.rows, tc.job_id, now)
            uow.commit()
            return True

    return with_db_retry(run)


def complete_job(tc: TaskClaim, argvs: list[list[str]], log_text: str, *,
                 uow: UnitOfWork, **fields: object) -> bool:
    """The assemble task published the render: complete it and its job in one
    transaction. False (nothing written) if the task or the job stopped being ours."""

    def run() -> bool:
        now = utcnow()
        with uow:
            if not _done(uow, tc, argvs, now) or not jobs.finish_job(
                    uow.rows, tc.job_id, JobStatus.COMPLETED, log_text, progress=100.0,
                    eta_seconds=0.0, heartbeat_at=now, log_limit=uow.settings.log_limit,
                    **fields):
                uow.rollback()
                return False
            uow.commit()
            return True

    return with_db_retry(run)


def fail(tc: TaskClaim, reason: str, log_text: str = "", *, uow: UnitOfWork) -> bool:
    """A task failed for good (bad input, ffmpeg error): fail the task and its job with
    the reason, and cancel the job's other tasks, in one transaction. False (nothing
    written) if the task stopped being ours -- so a job fails once, for one reason."""

    def run() -> bool:
        now = utcnow()
        with uow:
            if not jobs.update_claimed_task(uow.rows, tc, state=TaskState.FAILED.value,
                                            finished_at=now, error=reason[:2000]):
                return False
            note = f"{tc.label} failed on worker {tc.worker_name}: {reason}\n{log_text}"
            jobs.stop_job_tasks(uow.rows, tc.job_id, now)  # tasks before the job (cancel)
            jobs.finish_job(uow.rows, tc.job_id, JobStatus.FAILED, note, error=reason,
                            eta_seconds=None, log_limit=uow.settings.log_limit)
            uow.commit()
            return True

    return with_db_retry(run)


def hand_back(task_id: str, worker_name: str, *, uow: UnitOfWork) -> str | None:
    """The worker `worker_name` stopped mid-task (a cold shutdown: its work horse and
    ffmpeg were killed): put the task back in the queue at once, for another worker,
    rather than after the heartbeat timeout. Returns the task's job id (the caller
    dispatches the task again), or None if the task was not processing for this worker
    (a live worker's name is unique). No retries: the process is on its way out."""
    now = utcnow()
    with uow:
        row = jobs.task_of(uow.rows, task_id)
        if row is None:
            return None
        job_id, label, attempts = row["job_id"], row["label"], row["attempts"]
        if not jobs.update_claimed_task(
                uow.rows, TaskClaim(task_id, job_id, "", label, None, worker_name, attempts, ""),
                state=TaskState.QUEUED.value, worker_name=None, heartbeat_at=None,
                progress=0.0, dispatched_at=None):
            return None
        jobs.add_to_log(uow.rows, job_id, f"[{now.isoformat()}] {label} attempt {attempts} "
                        f"handed back: worker {worker_name} stopped\n", uow.settings.log_limit)
        uow.commit()
        return job_id


@dataclass(frozen=True)
class TaskRecovery:
    requeued: list[str]
    failed_jobs: list[str]


def recover_stale(cutoff: datetime, now: datetime, max_attempts: int, *,
                  uow: UnitOfWork) -> TaskRecovery:
    """Hand back processing tasks of processing jobs whose worker stopped heartbeating
    before `cutoff`: re-queued (for any worker) while they have attempts left, else their
    job fails. Each transition is guarded by the attempt seen."""
    requeued: list[str] = []
    failed: list[str] = []
    limit = uow.settings.log_limit
    with uow:
        rows = uow.rows
        for stale in jobs.stale_tasks(rows, cutoff):
            task_id, job_id, attempts = stale["id"], stale["job_id"], stale["attempts"]
            label = stale["label"]
            note = (f"[{now.isoformat()}] {label} attempt {attempts} lost: worker "
                    f"{stale['worker_name']} stopped heartbeating\n")
            # Only the job's status and its log's tail are read: a client may have
            # written a huge log or error into its own job (see jobs.log_tail).
            status = jobs.locked_job_status(rows, job_id)
            if status is None:  # held by another session: a later sweep
                continue
            if attempts < max_attempts:
                if jobs.update_if_stale(rows, "render_tasks", task_id, attempts, cutoff,
                                        state=TaskState.QUEUED.value, worker_name=None,
                                        heartbeat_at=None, progress=0.0, dispatched_at=None):
                    requeued.append(task_id)
                    jobs.add_to_log(rows, job_id, note, limit)
                continue
            reason = (f"the worker stopped responding ({label}, {attempts} "
                      f"attempt{'s' if attempts != 1 else ''})")
            if jobs.update_if_stale(rows, "render_tasks", task_id, attempts, cutoff,
                                    state=TaskState.FAILED.value, finished_at=now,
                                    error=reason) and status == JobStatus.PROCESSING:
                jobs.finish_job(rows, job_id, JobStatus.FAILED, note, error=reason, log_limit=limit)
                jobs.stop_job_tasks(rows, job_id, now)
                failed.append(job_id)
        uow.commit()
    return TaskRecovery(requeued, failed)


@dataclass(frozen=True)
class TaskView:
    id: str
    seq: int
    kind: str
    label: str
    state: str
    progress: float
    weight: float
    attempts: int
    worker_name: str | None
    command: str | None
    error: str | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def seconds(self) -> float | None:
        """Time from start to finish (the last attempt)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)


def task_views(rows: Rows, job_id: str) -> list[TaskView]:
    """A job's tasks in order (none for a job rendered in one piece)."""
    return [TaskView(t["id"], t["seq"], t["kind"], t["label"], t["state"],
                     round(t["progress"], 1), t["weight"], t["attempts"], t["worker_name"],
                     t["command"], t["error"], as_datetime(t["created_at"]),  # type: ignore[arg-type]
                     as_datetime(t["started_at"]), as_datetime(t["finished_at"]))
            for t in jobs.tasks_of(rows, job_id)]
