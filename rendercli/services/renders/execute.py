"""Run one render job end to end: claim it, render its timeline, record the outcome.

The RQ worker and the inline embedded mode both call `execute`. Progress is written to
the job row (at most twice a second, as the engine reports it); a monitor thread keeps
the heartbeat fresh and notices within a second when the job is cancelled or handed to
another worker, and then the engine kills its ffmpeg and publishes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, TypeVar

from rendercli.db.clock import utcnow
from rendercli.db.statuses import JobStatus, TaskState
from rendercli.errors import InvalidInput, StoreUnavailable
from rendercli.render.engine import prepare_render, render_timeline
from rendercli.render.errors import RenderCancelled, RenderFailed, RenderTimedOut
from rendercli.render.loudness import TOLERANCE, loudness_miss
from rendercli.repositories import jobs
from rendercli.repositories.jobs import JobClaim, TaskClaim, database_away, with_db_retry
from rendercli.services import analytics
from rendercli.services.items import read_items
from rendercli.services.renders import dispatch, lifecycle, outputs, tasks
from rendercli.services.renders.inputs import localized_inputs
from rendercli.services.renders.submit import engine_settings, request_of
from rendercli.services.renders.timeline import stored_fit, timeline_items
from rendercli.services.renders.views import JobView, task_summaries, view_of
from rendercli.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from rendercli.render.cache import RemoteCache
    from rendercli.render.engine import PreparedRender, RenderResult
    from rendercli.render.timeline import RenderSettings, TimelineItem

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float, float | None], None]


class JobMonitor:
    """Heartbeats for a claimed job and watches for it being taken away."""

    def __init__(self, claim: JobClaim, heartbeat_interval: float, uow: UnitOfWork) -> None:
        self.claim = claim
        self.uow = uow  # a fresh unit of work per call: the thread and progress race
        self.heartbeat_interval = heartbeat_interval
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"monitor-{claim.job_id}", daemon=True
        )

    def __enter__(self) -> JobMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        last_beat = time.monotonic()
        poll = self.uow.settings.cancel_poll_interval
        while not self._stop.wait(poll):
            try:
                if time.monotonic() - last_beat >= self.heartbeat_interval:
                    if not self._beat():
                        self.lost.set()
                    last_beat = time.monotonic()
                elif not self._still_ours():
                    self.lost.set()
            except Exception as exc:  # a database blip: keep rendering, try again
                if not database_away(exc):
                    raise
                log.warning("heartbeat for %s failed: %s", self._name, exc)

    @property
    def _name(self) -> str:
        return self.claim.job_id

    def _beat(self, percent: float | None = None, eta: float | None = None) -> bool:
        return lifecycle.heartbeat(self.claim, progress=percent, eta_seconds=eta,
                                   uow=self.uow.fresh())

    def _still_ours(self) -> bool:
        return lifecycle.still_ours(self.claim, uow=self.uow.fresh())

    def report(self, percent: float, eta: float | None) -> None:
        try:
            if not self._beat(percent, eta):
                self.lost.set()
        except Exception as exc:
            if not database_away(exc):
                raise
            log.warning("progress for %s not saved: %s", self._name, exc)


class TaskMonitor(JobMonitor):
    """The same for one task of a split job: its heartbeat also moves the job's progress,
    and the task is lost when it or its job stops being processed under this claim."""

    def __init__(self, claim: TaskClaim, heartbeat_interval: float, uow: UnitOfWork) -> None:
        self.task_claim = claim
        super().__init__(JobClaim(claim.job_id, claim.worker_name, claim.attempt,
                                  claim.owner_id, ""), heartbeat_interval, uow)

    @property
    def _name(self) -> str:
        return f"{self.task_claim.job_id} {self.task_claim.label}"

    def _beat(self, percent: float | None = None, eta: float | None = None) -> bool:
        return tasks.heartbeat(self.task_claim, progress=percent, uow=self.uow.fresh())

    def _still_ours(self) -> bool:
        return tasks.still_ours(self.task_claim, uow=self.uow.fresh())


_Claimed = TypeVar("_Claimed")


def _claim(claim: Callable[..., _Claimed | None], key: str, worker_name: str,
           uow: UnitOfWork, skipped: str) -> _Claimed | None:
    """Claim a job or a task (`claim` is lifecycle.claim or tasks.claim) for
    `worker_name` on `uow`'s database. Its schema is checked by this first connection,
    once (checked later, during an outage, it would fail the render instead of
    waiting). Returns the claim, or None (logged with `skipped`)."""
    claimed = claim(key, worker_name, uow=uow)
    if claimed is None:
        log.info(skipped, key)
    return claimed


def _failure(exc: RenderFailed | RenderTimedOut | InvalidInput) -> tuple[str, str]:
    """(reason, ffmpeg's log) of a render that failed for good."""
    return getattr(exc, "reason", None) or exc.message, getattr(exc, "log", "") or ""


def _loudness(result: RenderResult, target: float | None, lines: list[str]) -> float | None:
    """The output's measured loudness for the job (None without a target or for a
    silent soundtrack); a miss beyond the tolerance is a warning in the job's log."""
    miss = loudness_miss(result.loudness, target)
    if miss is None or result.loudness is None:
        return None
    measured = round(result.loudness["output_i"], 2)
    if abs(miss) > TOLERANCE:
        lines.append(f"warning: the output measures {measured:.1f} LUFS, {abs(miss):.1f} LU "
                     f"off the {target:g} LUFS target")
    return measured


def load(job_id: str, uow: UnitOfWork) -> tuple[list[TimelineItem], RenderSettings]:
    """A job's timeline and render settings: four statements, however many items."""
    with uow:
        job = jobs.job_row(uow.rows, job_id)
        assert job is not None
        job["use_cache"] = bool(job["use_cache"])
        # Bounded reads (read_items refuses a project past its limits), then every
        # number checked (timeline_items) before a plan is made: the rows are untrusted.
        items = timeline_items(read_items(uow.rows, job["project_id"]), uow.settings,
                               stored_fit(job["project_fit"]))
        return items, engine_settings(request_of(SimpleNamespace(**job)))


def _view(job_id: str, uow: UnitOfWork) -> JobView:
    with uow:
        row = jobs.view_row(uow.rows, job_id)
        assert row is not None
        return view_of(row, uow.settings,
                       task_summaries(uow.rows, [job_id]).get(job_id))


def execute(
    job_id: str,
    *,
    worker_name: str,
    on_progress: ProgressCallback | None = None,
    uow: UnitOfWork,
) -> JobView | None:
    """Render a queued job as `worker_name`. Returns its final view, or None if the job
    was not claimable (already taken, cancelled or finished).

    `uow` picks the database and carries the settings.
    """
    claim = _claim(lifecycle.claim, job_id, worker_name, uow,
                   "job %s is not queued any more; skipping")
    if claim is None:
        return None
    settings = uow.settings
    started = time.monotonic()
    lifecycle.record_log(
        job_id,
        f"[{utcnow():%Y-%m-%d %H:%M:%S} UTC] attempt {claim.attempt} started on worker "
        f"{worker_name}\n",
        uow=uow,
    )
    lines: list[str] = []
    held = contextlib.ExitStack()  # the inputs, fetched from a bucket and kept till the end
    try:
        items, render_settings = with_db_retry(lambda: load(job_id, uow))
        # Heartbeats go on while inputs are fetched from a bucket (a big one may take
        # longer than the heartbeat timeout) and while the job is split.
        with JobMonitor(claim, settings.heartbeat_interval, uow) as fetching:
            # Planning reads the fonts; the media only the worker that renders them
            # (this one, unless the job is split into tasks).
            held.enter_context(localized_inputs(settings, items, media=False))
            store, remote = _shared(uow)
            split = not fetching.lost.is_set() and _split(claim, items, render_settings,
                                                          uow, remote)
            if not split and not fetching.lost.is_set():
                held.enter_context(localized_inputs(settings, items))
        if split:
            return _view(job_id, uow)
        if fetching.lost.is_set():
            raise RenderCancelled()
        with JobMonitor(claim, settings.heartbeat_interval, uow) as monitor:

            def progress(percent: float, eta: float | None) -> None:
                monitor.report(percent, eta)
                if on_progress is not None:
                    on_progress(percent, eta)

            result = render_timeline(
                items,
                render_settings,
                storage_dir=settings.storage_dir,
                on_progress=progress,
                should_cancel=monitor.lost.is_set,
                timeout=settings.job_timeout,
                log=lines.append,
                name=job_id,
                jobs=settings.render_jobs,
                chunk_seconds=settings.chunk_seconds or None,
                remote=remote,
            )
            output_url, poster_url = outputs.publish_render(
                store, settings, job_id, Path(result.path), Path(result.poster_path))
    except RenderCancelled:
        lifecycle.record_log(
            job_id, "render stopped: the job was cancelled or reassigned\n", uow=uow
        )
        return _view(job_id, uow)
    except (RenderFailed, RenderTimedOut, InvalidInput) as exc:
        reason, detail = _failure(exc)
        lifecycle.fail(claim, reason, "\n".join(lines) + "\n" + detail, uow=uow)
        _record(uow, "render.failed", claim.owner_id, job_id, started, reason=reason)
        return _view(job_id, uow)
    except KeyboardInterrupt:
        lifecycle.interrupted(claim, uow=uow)
        _record(uow, "render.cancelled", claim.owner_id, job_id, started,
                was=JobStatus.PROCESSING.value, reason="interrupted")
        raise
    except BaseException as exc:
        # The database or the bucket went away for longer than our retries: leave the
        # job to the stale-heartbeat recovery, which re-queues it as a transient failure.
        if not _transient(exc):
            lifecycle.fail(claim, _one_line(exc), "\n".join(lines), uow=uow)
        raise
    finally:
        held.close()
    columns = _outputs(result, output_url, poster_url,
                       _loudness(result, render_settings.loudness, lines))
    # Each ffmpeg command is in `lines` once, with the step it ran for.
    if not lifecycle.complete(claim, uow=uow, log="\n".join(lines) + "\n", **columns):
        _discard(result)  # cancelled (or handed over) at the last moment: keep no output
        return _view(job_id, uow)
    _record(uow, "render.completed", claim.owner_id, job_id, started,
            output_seconds=result.duration, cache_hit=result.cache_hit)
    return _view(job_id, uow)


def _transient(exc: BaseException) -> bool:
    """The database or the bucket is away: the render is retried like a worker loss
    (left to the stale-heartbeat recovery), never failed as bad input."""
    return database_away(exc) or isinstance(exc, StoreUnavailable)


def _record(uow: UnitOfWork, event: str, owner_id: str, job_id: str, started: float,
            **fields: object) -> None:
    """Note a render's end (analytics), with the seconds since `started` (monotonic)."""
    analytics.record(uow.fresh(), event, owner_id, job_id=job_id,
                     seconds=round(time.monotonic() - started, 3), **fields)


def _outputs(result: RenderResult, output_url: str, poster_url: str,
             loudness_lufs: float | None) -> dict[str, object]:
    """A published render's columns of its job (`outputs.publish_render`'s URLs)."""
    return {"output_url": output_url, "poster_url": poster_url,
            "output_size": result.size, "output_duration": result.duration,
            "output_sha256": result.sha256, "cache_hit": result.cache_hit,
            "loudness_lufs": loudness_lufs}


def _discard(result: RenderResult) -> None:
    """Keep no output of a render that stopped being ours at the last moment."""
    Path(result.path).unlink(missing_ok=True)
    Path(result.poster_path).unlink(missing_ok=True)


def _shared(uow: UnitOfWork):  # type: ignore[no-untyped-def]
    """(the object store, the render cache's remote) for this worker's settings."""
    from rendercli.objectstore import open_store
    from rendercli.services.renders.shared_cache import remote_cache

    store = open_store(uow.settings)
    return store, remote_cache(store)


def _task_media(prepared: PreparedRender, tc: TaskClaim) -> list[TimelineItem]:
    """The items whose media a task reads: its segment's, the soundtrack's sources, or
    for the assemble none, unless a segment or the soundtrack is not to be had from the
    cache (then it renders them itself, from every item)."""
    plan, fmt = prepared.plan, prepared.settings.fmt
    if tc.kind == "segment":
        try:
            segment = prepared.segment(tc.cache_key or "")
        except KeyError:
            return []  # the project changed: the task fails on it
        t = segment.transition
        return [p.item for p in ((t.before, t.after) if t is not None else
                                 (segment.item,) if segment.item is not None else ())]
    if tc.kind == "soundtrack":
        return [p.item for p in plan.visual if p.item.has_audio] + list(plan.background)
    cache = prepared.cache
    complete = all(cache.has_segment(k, fmt) for k in prepared.unique_keys) and (
        not prepared.has_soundtrack
        or cache.soundtrack_loudness(prepared.soundtrack_key, fmt) is not None)
    return [] if complete else [p.item for p in plan.visual] + list(plan.background)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def _live_workers(redis_url: str | None) -> int:
    from rq import Worker

    conn = dispatch.redis_connection(redis_url)
    return int(Worker.count(connection=conn, queue=dispatch.render_queue(conn)))


def _split(claim: JobClaim, items, render_settings,  # type: ignore[no-untyped-def]
           uow: UnitOfWork, remote: RemoteCache | None = None) -> bool:
    """Farm mode: split the claimed job into tasks for many workers and dispatch them.
    True if it was split (the tasks now carry it), False to render it here in one piece:
    embedded mode, a cached render, fewer than two pieces of work, RENDERCLI_FARM_SPLIT
    "never", or ("auto") fewer than two workers on the queue."""
    settings = uow.settings
    if settings.is_embedded or settings.farm_split == "never":
        return False
    prepared = prepare_render(items, render_settings, storage_dir=settings.storage_dir,
                              chunk_seconds=settings.chunk_seconds or None, remote=remote)
    if prepared.has_cached_render():
        return False
    work = len(prepared.pending_segments()) + (1 if prepared.soundtrack_pending() else 0)
    if work < 2:
        return False
    if settings.farm_split == "auto":
        try:
            if _live_workers(settings.redis_url) < 2:
                return False
        except Exception as exc:  # Redis trouble: render here, as a lone worker would
            log.warning("could not count workers: %s", exc)
            return False
    created = tasks.split(claim, prepared, uow=uow)
    if not created:
        with uow:
            return jobs.has_tasks(uow.rows, claim.job_id)
    pending = dispatch.enqueue_tasks(claim.job_id, uow=uow)
    if pending is not None:
        lifecycle.record_log(claim.job_id, f"task dispatch is pending: {pending}\n",
                             uow=uow)
    return True


def execute_task(task_id: str, *, worker_name: str, uow: UnitOfWork) -> str | None:
    """Run one task of a split job as `worker_name`. Returns the task's final state, or
    None if it was not claimable (taken, finished, its job stopped, or -- the assemble
    task -- its siblings not all completed)."""
    from rendercli.render.engine import (
        assemble,
        encode_segment,
        prepare_render,
        render_soundtrack,
    )

    tc = _claim(tasks.claim, task_id, worker_name, uow,
                "task %s is not claimable; skipping")
    if tc is None:
        return None
    settings = uow.settings
    started = time.monotonic()
    lines: list[str] = []
    argvs: list[list[str]] = []
    held = contextlib.ExitStack()  # the inputs, fetched from a bucket and kept till the end
    try:
        items, render_settings = with_db_retry(lambda: load(tc.job_id, uow))
        with TaskMonitor(tc, settings.heartbeat_interval, uow) as monitor:
            # Inside the monitor: heartbeats go on while inputs are fetched. Only what
            # this task reads: the fonts (planning), then its own media.
            held.enter_context(localized_inputs(settings, items, media=False))
            store, remote = _shared(uow)

            def prepare() -> PreparedRender:
                return prepare_render(items, render_settings,
                                      storage_dir=settings.storage_dir,
                                      chunk_seconds=settings.chunk_seconds or None,
                                      remote=remote)

            prepared = prepare()
            needed = _task_media(prepared, tc) if store.remote else []
            if needed:
                held.enter_context(localized_inputs(settings, needed))
                prepared = prepare()  # each source's colours probed from its bytes now
            options = {"on_progress": monitor.report, "should_cancel": monitor.lost.is_set,
                       "timeout": settings.job_timeout, "log": lines.append}
            if tc.kind == "segment":
                assert tc.cache_key is not None
                try:
                    argvs = [encode_segment(prepared, tc.cache_key, **options)]
                except KeyError:
                    raise RenderFailed("the project changed while it was rendering; "
                                       "render it again") from None
            elif tc.kind == "soundtrack":
                argvs = render_soundtrack(prepared, **options)
            else:
                result = assemble(prepared, name=tc.job_id, jobs=settings.render_jobs, **options)
                argvs = result.commands
                output_url, poster_url = outputs.publish_render(
                    store, settings, tc.job_id, Path(result.path), Path(result.poster_path))
    except RenderCancelled:
        return TaskState.CANCELLED
    except (RenderFailed, RenderTimedOut, InvalidInput) as exc:
        reason, detail = _failure(exc)
        if tasks.fail(tc, reason, "\n".join(lines) + "\n" + detail, uow=uow):
            from rendercli.services.renders import dispatch

            dispatch.forget(tc.job_id, tasks=True, uow=uow)
            _record(uow, "render.failed", tc.owner_id, tc.job_id, started, reason=reason)
        return TaskState.FAILED
    except KeyboardInterrupt:
        tasks.hand_back(tc.task_id, tc.worker_name, uow=uow)
        raise
    except BaseException as exc:
        # The database or the bucket went away: the stale-heartbeat recovery hands the
        # task on, like a worker loss.
        if not _transient(exc):
            tasks.fail(tc, _one_line(exc), "\n".join(lines), uow=uow)
        raise
    finally:
        held.close()
    if tc.kind != "assemble":
        return (TaskState.COMPLETED if tasks.complete(tc, argvs, uow=uow)
                else TaskState.CANCELLED)
    columns = _outputs(result, output_url, poster_url,
                       _loudness(result, render_settings.loudness, lines))
    if not tasks.complete_job(tc, argvs, "\n".join(lines) + "\n", uow=uow,
                              **{**columns, "cache_hit": False}):
        _discard(result)
        return TaskState.CANCELLED
    _record(uow, "render.completed", tc.owner_id, tc.job_id, started,
            output_seconds=result.duration, cache_hit=False)
    return TaskState.COMPLETED

