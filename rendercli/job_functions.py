"""The functions RQ jobs on the render queue call: `render` (a whole job, or its split)
and `render_task` (one task of a job split over the farm).

Their RQ names stay `rendercli.worker.render` and `rendercli.worker.render_task` (the
contract in Redis; rendercli.worker re-exports them). They live here so that both
rendercli.worker and rendercli.rq_guard, which hands them to RQ, import them without
importing each other.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

log = logging.getLogger(__name__)


def _worker_name() -> str:
    from rq import get_current_job

    job = get_current_job()
    name = getattr(job, "worker_name", None) if job is not None else None
    return name or f"{socket.gethostname()}.{os.getpid()}"


def render(job_id: str) -> dict[str, Any]:
    """RQ job function: render one job (the RQ job id is the render job id)."""
    from rendercli.config import use_worker_database
    from rendercli.services.renders import execute, lifecycle

    use_worker_database()  # plain `rq worker` without RenderWorker
    try:
        lifecycle.recover_stale()
    except Exception as exc:  # maintenance must never stop a render
        log.warning("stale-job recovery failed: %s", exc)
    view = execute.execute(job_id, worker_name=_worker_name())
    return {"job_id": job_id, "status": view.status if view else "skipped"}


def render_task(task_id: str) -> dict[str, Any]:
    """RQ job function: run one task of a split render (the RQ job id is the task id)."""
    from rendercli.config import use_worker_database
    from rendercli.services.renders import execute

    use_worker_database()  # plain `rq worker` without RenderWorker
    state = execute.execute_task(task_id, worker_name=_worker_name())
    return {"task_id": task_id, "state": state or "skipped"}
