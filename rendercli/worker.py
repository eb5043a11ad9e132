"""The RQ side: the job function workers run, and a Worker class that also keeps the
farm healthy (recovering jobs of dead workers, dispatching rows Redis never saw).

Run a worker with `rendercli worker`, or with plain RQ:
    rq worker -w rendercli.worker.RenderWorker -S rq.serializers.JSONSerializer render-video
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from rq import Worker

log = logging.getLogger(__name__)

# RQ wakes an idle worker every (worker_ttl - 15) s; maintenance then runs if it is due.
RQ_TTL_MARGIN = 15


def _worker_name() -> str:
    from rq import get_current_job

    job = get_current_job()
    name = getattr(job, "worker_name", None) if job is not None else None
    return name or f"{socket.gethostname()}.{os.getpid()}"


def render(job_id: str) -> dict[str, Any]:
    """RQ job function: render one job (the RQ job id is the render job id)."""
    from rendercli.config import use_worker_database
    from rendercli.services import job_lifecycle, rendering

    use_worker_database()  # plain `rq worker` without RenderWorker
    try:
        job_lifecycle.recover_stale()
    except Exception as exc:  # maintenance must never stop a render
        log.warning("stale-job recovery failed: %s", exc)
    view = rendering.execute(job_id, worker_name=_worker_name())
    return {"job_id": job_id, "status": view.status if view else "skipped"}


def farm_maintenance(connection: Any = None) -> None:
    """Recover jobs from dead workers and dispatch queued rows without an RQ job."""
    from rendercli.services import dispatch, housekeeping, job_lifecycle

    recovery = job_lifecycle.recover_stale()
    if recovery.requeued or recovery.failed:
        log.warning(
            "recovered stale jobs: requeued %s, failed %s", recovery.requeued, recovery.failed
        )
    housekeeping.sweep_storage()
    dispatched = dispatch.reconcile(connection)
    if dispatched:
        log.info("dispatched queued jobs: %s", dispatched)


class RenderWorker(Worker):
    """An RQ worker that also runs rendercli's farm maintenance when idle (every
    RENDERCLI_WORKER_SWEEP_INTERVAL seconds, 30 by default)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from rendercli.config import get_settings, use_worker_database

        use_worker_database()
        # `rq worker` passes its own defaults (600 s, 420 s) explicitly: cap them.
        interval = get_settings().worker_sweep_interval
        kwargs["maintenance_interval"] = min(kwargs.get("maintenance_interval") or interval,
                                             interval)
        kwargs["worker_ttl"] = min(kwargs.get("worker_ttl") or interval + RQ_TTL_MARGIN,
                                   interval + RQ_TTL_MARGIN)
        if kwargs.get("serializer") is None:
            from rq.serializers import JSONSerializer

            kwargs["serializer"] = JSONSerializer
        super().__init__(*args, **kwargs)

    def fork_work_horse(self, job: Any, queue: Any) -> None:
        self._parent_pid = os.getpid()
        super().fork_work_horse(job, queue)

    def main_work_horse(self, job: Any, queue: Any) -> None:
        # The horse (and through it, ffmpeg) dies with this worker, even by SIGKILL.
        from rendercli.render.parent_death import die_with_parent

        die_with_parent(self._parent_pid)
        super().main_work_horse(job, queue)

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        try:
            farm_maintenance(self.connection)
        except Exception as exc:  # never let housekeeping kill the worker
            log.warning("farm maintenance failed: %s", exc)
