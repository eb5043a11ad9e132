"""Run one render job end to end: claim it, render its timeline, record the outcome.

The RQ worker and the inline embedded mode both call `execute`. Progress is written to
the job row (at most twice a second, as the engine reports it); a monitor thread keeps
the heartbeat fresh and notices within a second when the job is cancelled or handed to
another worker, and then the engine kills its ffmpeg and publishes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from rendercli.config import get_settings
from rendercli.db.models import Asset, Project, RenderJob
from rendercli.db.types import utcnow
from rendercli.errors import InvalidInput
from rendercli.services import analytics
from rendercli.services.renders import lifecycle
from rendercli.services.renders.lifecycle import Claim
from rendercli.services.renders.views import JobView, job_view
from rendercli.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from rendercli.db.session import SessionFactory

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float, float | None], None]
CANCEL_POLL_SECONDS = 1.0


class JobMonitor:
    """Heartbeats for a claimed job and watches for it being taken away."""

    def __init__(
        self, claim: Claim, heartbeat_interval: float, sessions: SessionFactory | None = None
    ) -> None:
        self.claim = claim
        self.sessions = sessions
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
        while not self._stop.wait(CANCEL_POLL_SECONDS):
            try:
                if time.monotonic() - last_beat >= self.heartbeat_interval:
                    if not lifecycle.heartbeat(self.claim, sessions=self.sessions):
                        self.lost.set()
                    last_beat = time.monotonic()
                elif not lifecycle.still_ours(self.claim, sessions=self.sessions):
                    self.lost.set()
            except OperationalError as exc:  # a database blip: keep rendering, try again
                log.warning("heartbeat for %s failed: %s", self.claim.job_id, exc.orig)

    def report(self, percent: float, eta: float | None) -> None:
        try:
            if not lifecycle.heartbeat(
                self.claim, progress=percent, eta_seconds=eta, sessions=self.sessions
            ):
                self.lost.set()
        except OperationalError as exc:
            log.warning("progress for %s not saved: %s", self.claim.job_id, exc.orig)


def _load(job_id: str, sessions: SessionFactory | None):  # type: ignore[no-untyped-def]
    from rendercli.services.renders.submit import engine_settings, request_of
    from rendercli.services.renders.timeline import timeline_items

    settings = get_settings()
    with UnitOfWork(sessions) as uow:
        job = uow.session.get(RenderJob, job_id)
        assert job is not None
        assets = uow.session.scalars(select(Asset).where(Asset.project_id == job.project_id))
        items = timeline_items(list(assets), settings.storage_dir)
        render_settings = engine_settings(request_of(job))
        return items, render_settings


def _view(job_id: str, sessions: SessionFactory | None) -> JobView:
    with UnitOfWork(sessions) as uow:
        job, name = uow.session.execute(
            select(RenderJob, Project.name).join(Project).where(RenderJob.id == job_id)
        ).one()
        return job_view(job, name)


def execute(
    job_id: str,
    *,
    worker_name: str,
    on_progress: ProgressCallback | None = None,
    sessions: SessionFactory | None = None,
) -> JobView | None:
    """Render a queued job as `worker_name`. Returns its final view, or None if the job
    was not claimable (already taken, cancelled or finished).

    `sessions` picks the database (default: the configured one).
    """
    from rendercli.render.engine import render_timeline
    from rendercli.render.errors import RenderCancelled, RenderFailed, RenderTimedOut

    if sessions is None:
        from rendercli.db.session import default_session_factory

        sessions = default_session_factory()
    claim = lifecycle.claim(job_id, worker_name, sessions=sessions)
    if claim is None:
        log.info("job %s is not queued any more; skipping", job_id)
        return None
    settings = get_settings()
    started = time.monotonic()
    lifecycle.record_log(
        job_id,
        f"[{utcnow():%Y-%m-%d %H:%M:%S} UTC] attempt {claim.attempt} started on worker "
        f"{worker_name}\n",
        sessions=sessions,
    )
    lines: list[str] = []
    try:
        items, render_settings = _load(job_id, sessions)
        with JobMonitor(claim, settings.heartbeat_interval, sessions) as monitor:

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
            )
    except RenderCancelled:
        lifecycle.record_log(
            job_id, "render stopped: the job was cancelled or reassigned\n", sessions=sessions
        )
        return _view(job_id, sessions)
    except (RenderFailed, RenderTimedOut, InvalidInput) as exc:
        reason = getattr(exc, "reason", None) or exc.message
        detail = getattr(exc, "log", "") or ""
        lifecycle.fail(claim, reason, "\n".join(lines) + "\n" + detail, sessions=sessions)
        analytics.record(
            sessions,
            "render.failed",
            claim.owner_id,
            job_id=job_id,
            seconds=round(time.monotonic() - started, 3),
            reason=reason,
        )
        return _view(job_id, sessions)
    except KeyboardInterrupt:
        lifecycle.interrupted(claim, sessions=sessions)
        analytics.record(sessions, "render.cancelled", claim.owner_id, job_id=job_id,
                         was="processing", seconds=round(time.monotonic() - started, 3),
                         reason="interrupted")
        raise
    except OperationalError:
        # The database went away for longer than our retries: leave the job to the
        # stale-heartbeat recovery, which re-queues it as a transient failure.
        raise
    except BaseException as exc:
        lifecycle.fail(claim, _one_line(exc), "\n".join(lines), sessions=sessions)
        raise
    published = lifecycle.complete(
        claim,
        sessions=sessions,
        output_url=Path(result.path).resolve().as_uri(),
        poster_url=Path(result.poster_path).resolve().as_uri(),
        output_size=result.size,
        output_duration=result.duration,
        output_sha256=result.sha256,
        cache_hit=result.cache_hit,
        # Each ffmpeg command is in `lines` once, with the step it ran for.
        log="\n".join(lines) + "\n",
    )
    if not published:
        # Cancelled (or handed over) at the last moment: keep no output.
        Path(result.path).unlink(missing_ok=True)
        Path(result.poster_path).unlink(missing_ok=True)
        return _view(job_id, sessions)
    analytics.record(
        sessions,
        "render.completed",
        claim.owner_id,
        job_id=job_id,
        seconds=round(time.monotonic() - started, 3),
        output_seconds=result.duration,
        cache_hit=result.cache_hit,
    )
    return _view(job_id, sessions)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
