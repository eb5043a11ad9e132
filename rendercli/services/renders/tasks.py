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
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import exists, select, update
from sqlalchemy.orm import aliased

from rendercli.config import get_settings
from rendercli.db.models import Project, RenderJob, RenderTask
from rendercli.db.types import utcnow
from rendercli.services.renders.claims import (
    Claim,
    append_log,
    claim_or_pass,
    log_tail,
    with_db_retry,
)
from rendercli.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rendercli.db.session import SessionFactory
    from rendercli.render.engine import PreparedRender

log = logging.getLogger(__name__)

LIVE_TASK_STATES = ("queued", "processing")


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


@dataclass(frozen=True)
class NewTask:
    id: str
    kind: str


def split(claim: Claim, prepared: PreparedRender, *,
          sessions: SessionFactory | None = None) -> list[NewTask]:
    """Create the task rows of a claimed job (in one transaction): its pending segments
    in timeline order, the soundtrack (unless cached), then the assemble task. Returns
    them; [] if the job is no longer ours or already split (nothing is written then)."""
    from rendercli.db.ids import new_id

    pending = prepared.pending_segments()
    soundtrack = prepared.soundtrack_pending()  # none for gif, or when it is cached

    def run() -> list[NewTask]:
        now = utcnow()
        with UnitOfWork(sessions) as uow:
            session = uow.session
            if session.scalar(select(RenderTask.id).where(RenderTask.job_id == claim.job_id)
                              .limit(1)) is not None:
                return []
            ours = session.execute(
                update(RenderJob)
                .where(RenderJob.id == claim.job_id, RenderJob.status == "processing",
                       RenderJob.worker_name == claim.worker_name,
                       RenderJob.attempts == claim.attempt)
                .values(heartbeat_at=now, updated_at=now)
            )
            if ours.rowcount != 1:
                return []
            rows = [RenderTask(id=new_id(), job_id=claim.job_id, seq=n, kind="segment",
                               label=segment.label, cache_key=key,
                               weight=prepared.segment_weight(key), created_at=now)
                    for n, (key, segment) in enumerate(pending)]
            if soundtrack:
                rows.append(RenderTask(id=new_id(), job_id=claim.job_id, seq=len(rows),
                                       kind="soundtrack", label="soundtrack",
                                       weight=prepared.soundtrack_weight, created_at=now))
            rows.append(RenderTask(id=new_id(), job_id=claim.job_id, seq=len(rows),
                                   kind="assemble", label="assemble",
                                   weight=prepared.assemble_weight, created_at=now))
            for row in rows:
                row.state, row.progress, row.attempts = "queued", 0.0, 0
            session.add_all(rows)
            job = session.get(RenderJob, claim.job_id)
            assert job is not None
            job.log = append_log(
                f"[{now.isoformat()}] split into {len(rows)} tasks: {len(pending)} segments"
                f"{', the soundtrack' if soundtrack else ''} and the assemble; "
                f"{len(prepared.unique_keys) - len(pending)} segments already cached\n",
                job.log)
            result = [NewTask(r.id, r.kind) for r in rows]
            uow.commit()
            return result

    return with_db_retry(run)


def has_tasks(job_id: str, *, sessions: SessionFactory | None = None) -> bool:
    with UnitOfWork(sessions) as uow:
        return uow.session.scalar(
            select(RenderTask.id).where(RenderTask.job_id == job_id).limit(1)) is not None


def _job_processing(job_id_column):  # type: ignore[no-untyped-def]
    return exists().where(RenderJob.id == job_id_column, RenderJob.status == "processing")


def claim(task_id: str, worker_name: str, *, sessions: SessionFactory | None = None
          ) -> TaskClaim | None:
    """Move a queued task of a processing job to processing for this worker; None if it
    is not claimable (taken, finished, its job not processing, or -- the assemble task --
    a sibling not completed yet)."""
    sibling = aliased(RenderTask)

    def run(uow: UnitOfWork) -> TaskClaim | None:
        now = utcnow()
        siblings_done = ~exists().where(
            sibling.job_id == RenderTask.job_id, sibling.id != RenderTask.id,
            sibling.state != "completed")
        result = uow.session.execute(
            update(RenderTask)
            .where(RenderTask.id == task_id, RenderTask.state == "queued",
                   _job_processing(RenderTask.job_id),
                   (RenderTask.kind != "assemble") | siblings_done)
            .values(state="processing", worker_name=worker_name, started_at=now,
                    heartbeat_at=now, progress=0.0, error=None, finished_at=None,
                    attempts=RenderTask.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            return None
        row = uow.session.execute(
            select(RenderTask, Project.owner_id)
            .join(RenderJob, RenderJob.id == RenderTask.job_id)
            .join(Project, Project.id == RenderJob.project_id)
            .where(RenderTask.id == task_id)
        ).one()
        task, owner = row
        claimed = TaskClaim(task.id, task.job_id, task.kind, task.label, task.cache_key,
                            worker_name, task.attempts, owner)
        # Not the whole row: a client may have written a huge log into its own job.
        uow.session.execute(update(RenderJob).where(RenderJob.id == task.job_id)
                            .values(heartbeat_at=now)
                            .execution_options(synchronize_session=False))
        uow.commit()
        return claimed

    return claim_or_pass(run, sessions)


def _fenced(tc: TaskClaim):  # type: ignore[no-untyped-def]
    return update(RenderTask).where(
        RenderTask.id == tc.task_id, RenderTask.state == "processing",
        RenderTask.worker_name == tc.worker_name, RenderTask.attempts == tc.attempt,
        _job_processing(RenderTask.job_id),
    ).execution_options(synchronize_session=False)


def _aggregate(session: Session, job_id: str, now: datetime) -> None:
    """The job's progress: its tasks' progress weighted by cost; its heartbeat: now."""
    rows = session.execute(select(RenderTask.weight, RenderTask.progress, RenderTask.state)
                           .where(RenderTask.job_id == job_id)).all()
    total = sum(max(0.0, w) for w, _p, _s in rows)
    if total <= 0:
        return
    done = sum(max(0.0, w) * (100.0 if s == "completed" else min(100.0, max(0.0, p)))
               for w, p, s in rows) / total
    job = session.get(RenderJob, job_id)
    if job is None or job.status != "processing":
        return
    percent = min(99.9, done)
    job.heartbeat_at = now
    if percent > job.progress:
        job.progress = round(percent, 1)
        if job.started_at is not None and percent >= 1.0:
            elapsed = (now - job.started_at).total_seconds()
            job.eta_seconds = round(elapsed * (100.0 - percent) / percent, 1)


def heartbeat(tc: TaskClaim, *, progress: float | None = None,
              sessions: SessionFactory | None = None) -> bool:
    """Record that the task's worker is alive (and its progress), and update the job's
    overall progress. False: the task is no longer ours (or its job stopped)."""
    now = utcnow()
    values: dict[str, object] = {"heartbeat_at": now}
    if progress is not None:
        values["progress"] = max(0.0, min(100.0, progress))
    with UnitOfWork(sessions) as uow:
        result = uow.session.execute(_fenced(tc).values(**values))
        if result.rowcount != 1:
            return False
        _aggregate(uow.session, tc.job_id, now)
        uow.commit()
        return True


def still_ours(tc: TaskClaim, *, sessions: SessionFactory | None = None) -> bool:
    """True while the task is processing under this claim and its job is processing."""
    with UnitOfWork(sessions) as uow:
        row = uow.session.execute(
            select(RenderTask.state, RenderTask.worker_name, RenderTask.attempts,
                   RenderJob.status)
            .join(RenderJob, RenderJob.id == RenderTask.job_id)
            .where(RenderTask.id == tc.task_id)
        ).first()
    return row is not None and tuple(row) == ("processing", tc.worker_name, tc.attempt,
                                              "processing")


def _commands(argvs: list[list[str]]) -> str:
    return "".join("$ " + shlex.join(a) + "\n" for a in argvs if a)[:get_settings().command_limit]


def complete(tc: TaskClaim, argvs: list[list[str]], *,
             sessions: SessionFactory | None = None) -> bool:
    """Mark the task done (with the commands it ran). False if it stopped being ours."""

    def run() -> bool:
        now = utcnow()
        with UnitOfWork(sessions) as uow:
            result = uow.session.execute(_fenced(tc).values(
                state="completed", progress=100.0, finished_at=now, heartbeat_at=now,
                command=_commands(argvs)))
            if result.rowcount != 1:
                return False
            _aggregate(uow.session, tc.job_id, now)
            uow.commit()
            return True

    return with_db_retry(run)


def complete_job(tc: TaskClaim, argvs: list[list[str]], log_text: str, *,
                 sessions: SessionFactory | None = None, **fields: object) -> bool:
    """The assemble task published the render: complete it and its job in one
    transaction. False (nothing written) if the task or the job stopped being ours."""

    def run() -> bool:
        now = utcnow()
        with UnitOfWork(sessions) as uow:
            done = uow.session.execute(_fenced(tc).values(
                state="completed", progress=100.0, finished_at=now, heartbeat_at=now,
                command=_commands(argvs)))
            if done.rowcount != 1:
                return False
            current_log = uow.session.scalar(
                select(RenderJob.log).where(RenderJob.id == tc.job_id))
            job = uow.session.execute(
                update(RenderJob)
                .where(RenderJob.id == tc.job_id, RenderJob.status == "processing")
                .values(status="completed", progress=100.0, eta_seconds=0.0,
                        heartbeat_at=now, finished_at=now, updated_at=now,
                        log=append_log(log_text, current_log), **fields)
            )
            if job.rowcount != 1:
                uow.rollback()
                return False
            uow.commit()
            return True

    return with_db_retry(run)


def _stop_siblings(session: Session, job_id: str, state: str, now: datetime) -> None:
    session.execute(
        update(RenderTask)
        .where(RenderTask.job_id == job_id, RenderTask.state.in_(LIVE_TASK_STATES))
        .values(state=state, finished_at=now)
        .execution_options(synchronize_session=False)
    )


def fail(tc: TaskClaim, reason: str, log_text: str = "", *,
         sessions: SessionFactory | None = None) -> bool:
    """A task failed for good (bad input, ffmpeg error): fail the task and its job with
    the reason, and cancel the job's other tasks, in one transaction. False (nothing
    written) if the task stopped being ours -- so a job fails once, for one reason."""

    def run() -> bool:
        now = utcnow()
        with UnitOfWork(sessions) as uow:
            mine = uow.session.execute(_fenced(tc).values(
                state="failed", finished_at=now, error=reason[:2000]))
            if mine.rowcount != 1:
                return False
            current_log = uow.session.scalar(
                select(RenderJob.log).where(RenderJob.id == tc.job_id))
            note = f"{tc.label} failed on worker {tc.worker_name}: {reason}\n{log_text}"
            uow.session.execute(
                update(RenderJob)
                .where(RenderJob.id == tc.job_id, RenderJob.status == "processing")
                .values(status="failed", error=reason, eta_seconds=None, finished_at=now,
                        updated_at=now, log=append_log(note, current_log))
            )
            _stop_siblings(uow.session, tc.job_id, "cancelled", now)
            uow.commit()
            return True

    return with_db_retry(run)


def hand_back(task_id: str, worker_name: str, *,
              sessions: SessionFactory | None = None) -> str | None:
    """The worker `worker_name` stopped mid-task (a cold shutdown: its work horse and
    ffmpeg were killed): put the task back in the queue at once, for another worker,
    rather than after the heartbeat timeout. Returns the task's job id (the caller
    dispatches the task again), or None if the task was not processing for this worker
    (a live worker's name is unique). No retries: the process is on its way out."""
    now = utcnow()
    with UnitOfWork(sessions) as uow:
        row = uow.session.execute(
            select(RenderTask.job_id, RenderTask.label, RenderTask.attempts)
            .where(RenderTask.id == task_id)).first()
        if row is None:
            return None
        job_id, label, attempts = row
        result = uow.session.execute(_fenced(TaskClaim(
            task_id, job_id, "", label, None, worker_name, attempts, "")).values(
            state="queued", worker_name=None, heartbeat_at=None, progress=0.0,
            dispatched_at=None))
        if result.rowcount != 1:
            return None
        job = uow.session.get(RenderJob, job_id)
        assert job is not None
        job.log = append_log(f"[{now.isoformat()}] {label} attempt {attempts} handed back: "
                             f"worker {worker_name} stopped\n", job.log)
        uow.commit()
        return job_id


def stop_job_tasks(session: Session, job_id: str, now: datetime) -> int:
    """Cancel a job's queued and processing tasks (inside the caller's transaction):
    their workers see it within a second and stop their ffmpeg."""
    result = session.execute(
        update(RenderTask)
        .where(RenderTask.job_id == job_id, RenderTask.state.in_(LIVE_TASK_STATES))
        .values(state="cancelled", finished_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def mark_dispatched(task_ids: list[str], *, sessions: SessionFactory | None = None) -> None:
    if not task_ids:
        return
    with UnitOfWork(sessions) as uow:
        # Rows someone holds locked are skipped, not waited for (see rows.skip_locked).
        free = (select(RenderTask.id)
                .where(RenderTask.id.in_(task_ids), RenderTask.state == "queued")
                .with_for_update(skip_locked=True))
        uow.session.execute(
            update(RenderTask)
            .where(RenderTask.id.in_(free.scalar_subquery()))
            .values(dispatched_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        uow.commit()


@dataclass(frozen=True)
class TaskRecovery:
    requeued: list[str]
    failed_jobs: list[str]


def recover_stale(cutoff: datetime, now: datetime, max_attempts: int, *,
                  sessions: SessionFactory | None = None) -> TaskRecovery:
    """Hand back processing tasks of processing jobs whose worker stopped heartbeating
    before `cutoff`: re-queued (for any worker) while they have attempts left, else their
    job fails. Each transition is guarded by the attempt seen."""
    requeued: list[str] = []
    failed: list[str] = []
    with UnitOfWork(sessions) as uow:
        stale = uow.session.execute(
            select(RenderTask.id, RenderTask.job_id, RenderTask.attempts,
                   RenderTask.worker_name, RenderTask.label)
            .where(RenderTask.state == "processing", RenderTask.heartbeat_at < cutoff,
                   _job_processing(RenderTask.job_id))
            # Rows another session holds (a client may lock its own) wait for a later
            # sweep instead of stopping this one for every account.
            .with_for_update(skip_locked=True, of=RenderTask)
        ).all()
        for task_id, job_id, attempts, worker, label in stale:
            guard = update(RenderTask).where(
                RenderTask.id == task_id, RenderTask.state == "processing",
                RenderTask.attempts == attempts, RenderTask.heartbeat_at < cutoff,
            ).execution_options(synchronize_session=False)
            note = (f"[{now.isoformat()}] {label} attempt {attempts} lost: worker {worker} "
                    f"stopped heartbeating\n")
            # Only the job's status and its log's tail are read: a client may have
            # written a huge log or error into its own job (see claims.log_tail).
            status = uow.session.scalars(select(RenderJob.status).where(
                RenderJob.id == job_id).with_for_update(skip_locked=True)).first()
            if status is None:  # held by another session: a later sweep
                continue
            job_row = (update(RenderJob).where(RenderJob.id == job_id)
                       .execution_options(synchronize_session=False))
            if attempts < max_attempts:
                result = uow.session.execute(guard.values(
                    state="queued", worker_name=None, heartbeat_at=None, progress=0.0,
                    dispatched_at=None))
                if result.rowcount == 1:
                    requeued.append(task_id)
                    uow.session.execute(job_row.values(
                        log=append_log(note, log_tail(uow.session, job_id))))
                continue
            reason = (f"the worker stopped responding ({label}, {attempts} "
                      f"attempt{'s' if attempts != 1 else ''})")
            result = uow.session.execute(guard.values(state="failed", finished_at=now,
                                                      error=reason))
            if result.rowcount == 1 and status == "processing":
                uow.session.execute(job_row.values(
                    status="failed", error=reason, finished_at=now, updated_at=now,
                    log=append_log(note, log_tail(uow.session, job_id))))
                _stop_siblings(uow.session, job_id, "cancelled", now)
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


def task_views(session: Session, job_id: str) -> list[TaskView]:
    """A job's tasks in order (none for a job rendered in one piece)."""
    rows = session.scalars(select(RenderTask).where(RenderTask.job_id == job_id)
                           .order_by(RenderTask.seq)).all()
    return [TaskView(t.id, t.seq, t.kind, t.label, t.state, round(t.progress, 1), t.weight,
                     t.attempts, t.worker_name, t.command, t.error, t.created_at,
                     t.started_at, t.finished_at) for t in rows]


def unfinished_dependencies(session: Session, job_id: str) -> list[str]:
    """Ids of a job's non-assemble tasks that have not completed."""
    return list(session.scalars(
        select(RenderTask.id).where(RenderTask.job_id == job_id,
                                    RenderTask.kind != "assemble",
                                    RenderTask.state != "completed")
        .order_by(RenderTask.seq)))


def queued_tasks(session: Session) -> list[tuple[str, str, str, datetime | None]]:
    """(task id, job id, kind, dispatched_at) of queued tasks of processing jobs."""
    return [tuple(r) for r in session.execute(  # type: ignore[misc]
        select(RenderTask.id, RenderTask.job_id, RenderTask.kind, RenderTask.dispatched_at)
        .where(RenderTask.state == "queued", _job_processing(RenderTask.job_id))
        .order_by(RenderTask.job_id, RenderTask.seq))]



def ready_to_assemble(session: Session, job_ids: list[str]) -> set[str]:
    """The jobs among `job_ids` whose tasks other than the assemble are all completed."""
    if not job_ids:
        return set()
    unfinished = select(RenderTask.job_id).where(
        RenderTask.job_id.in_(job_ids), RenderTask.kind != "assemble",
        RenderTask.state != "completed")
    return set(job_ids) - set(session.scalars(unfinished))
