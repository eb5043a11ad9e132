"""What a worker's hold on a job and on a task share (lifecycle.py and tasks.py).

A `Claim` is taken when a worker moves a job to processing; its attempt number fences
the worker out once the job is taken away. Every guarded transition appends to the
job's log (kept to the newest RENDERCLI_LOG_LIMIT characters) and retries its short
transaction while the database is away.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from rendercli.config import get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Claim:
    job_id: str
    worker_name: str
    attempt: int
    owner_id: str
    project_id: str


def with_db_retry(fn: Callable[[], T], *, attempts: int = 6, first_delay: float = 0.5) -> T:
    """Run a short transaction again if the database connection drops (e.g. a restart)."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except OperationalError as exc:
            if attempt == attempts:
                raise
            log.warning("database unavailable (%s); retrying in %.1f s", exc.orig, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")


# How long a claim waits for a row lock before passing the job or task by. Rendercli's
# own transactions hold rows for milliseconds; a client may lock its own rows and sit
# on them, and a worker must not spend its retries (minutes) on each such hand-out.
CLAIM_LOCK_WAIT = 1.0  # seconds (or RENDERCLI_LOCK_TIMEOUT if shorter)


def claim_or_pass(run: Callable[[Any], T | None], sessions: Any = None) -> T | None:
    """Run a claim's transaction (``run(uow)``) waiting at most CLAIM_LOCK_WAIT for a row
    lock (PostgreSQL); a row held longer is passed by (None), and the reconciler hands
    it out again later. Dropped connections are retried as `with_db_retry` does."""
    from rendercli.config import lock_timeout
    from rendercli.db.rows import lock_timed_out
    from rendercli.services.unit_of_work import UnitOfWork

    wait = max(1, round(min(lock_timeout(), CLAIM_LOCK_WAIT) * 1000))

    def attempt() -> T | None:
        with UnitOfWork(sessions) as uow:
            if uow.session.get_bind().dialect.name == "postgresql":
                uow.session.execute(text(f"SET LOCAL lock_timeout = {wait}"))
            try:
                return run(uow)
            except OperationalError as exc:
                if not lock_timed_out(exc):
                    raise
        log.warning("passed by a row another session has held locked for over %d ms "
                    "(left for a later hand-out)", wait)
        return None

    return with_db_retry(attempt)


def log_tail(session: Any, job_id: str) -> str | None:
    """A job's log as `append_log` keeps it (its newest RENDERCLI_LOG_LIMIT characters),
    cut in the database: a raw-SQL client can write up to 1 GB into its own job's log,
    and the farm's upkeep reads every account's stale jobs."""
    from sqlalchemy import case, func, select

    from rendercli.db.models import RenderJob

    limit = get_settings().log_limit
    length = func.length(RenderJob.log)
    return session.scalar(select(case(
        (length > limit, func.substr(RenderJob.log, length - limit + 1)),
        else_=RenderJob.log)).where(RenderJob.id == job_id))


def append_log(text: str, existing: str | None) -> str:
    """A job's log with `text` appended, kept to the newest RENDERCLI_LOG_LIMIT characters."""
    combined = (existing or "") + text
    return combined[-get_settings().log_limit:]
