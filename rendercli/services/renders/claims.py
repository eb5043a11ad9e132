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
from typing import TypeVar

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


def append_log(text: str, existing: str | None) -> str:
    """A job's log with `text` appended, kept to the newest RENDERCLI_LOG_LIMIT characters."""
    combined = (existing or "") + text
    return combined[-get_settings().log_limit:]
