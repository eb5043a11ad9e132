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
