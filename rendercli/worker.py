"""The RQ side: the job function workers run, and the Worker class that runs it.

`RenderWorker` runs only rendercli's own job functions, `render` (a job) and
`render_task` (one task of a job split over the farm) (see rendercli.rq_guard: a Redis
writer cannot make it import, call or unpickle anything else), keeps the farm healthy
while idle (recovering jobs of dead workers, dispatching rows Redis never saw), and waits
out Redis outages of any length (rendercli.redis_outage).

Run a worker with `rendercli worker`, which is the same as
    rq worker -w rendercli.worker.RenderWorker -S rq.serializers.JSONSerializer render-video
A plain `rq worker` (without `-w rendercli.worker.RenderWorker`) runs any function a
Redis writer names: never point one at the `render-video` queue.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from rq import Worker

from rendercli import redis_outage, rq_guard
from rendercli.rq_guard import render, render_task

if TYPE_CHECKING:
    from rendercli.config import Settings
    from rendercli.services.unit_of_work import UnitOfWork

__all__ = ["RenderWorker", "farm_upkeep", "render", "render_task"]

log = logging.getLogger(__name__)

# RQ wakes an idle worker every (worker_ttl - 15) s, its dequeue timeout.
RQ_TTL_MARGIN = 15
# The worker's hash in Redis records its class in this field: `rendercli doctor` warns
# about workers on the render queue without it (a plain `rq worker` runs anything).
WORKER_CLASS_FIELD = "rendercli_worker_class"
WORKER_CLASS = "rendercli.worker.RenderWorker"
REFUSED_TTL = 7 * 24 * 3600  # how long a refused RQ job stays in the failed registry
# What a work horse imports to run a job or a task. RQ forks a horse per job: imported
# here once, before any fork, each horse starts with them loaded instead of importing
# them again for every task (about 60 ms each time, measured).
PRELOAD = (
    "rendercli.render.engine",
    "rendercli.render.runner",
    "rendercli.services.renders.dispatch",
    "rendercli.services.renders.execute",
    "rendercli.services.renders.submit",
    "rendercli.services.renders.timeline",
    "rendercli.services.renders.inputs",
    "rendercli.services.renders.shared_cache",
)


def preload(settings: Settings | None = None) -> None:
    """Import what every render job and task needs (our own modules only). With a bucket,
    boto3 too, and one S3 client is made (and dropped, no request sent) so botocore's
    models are loaded before the fork: a horse's own client then costs ~0.1 s instead of
    ~0.4 s with the import (measured)."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    if settings is not None and settings.storage_url is not None:
        from rendercli.objectstore.client import make_bucket

        make_bucket(settings)


def farm_upkeep(connection: Any, uow: UnitOfWork) -> None:
    """Recover jobs from dead workers, sweep storage (unreferenced objects too: workers
    are who sweeps them), dispatch queued rows without an RQ job
    (rendercli.services.upkeep), on `uow`'s database (a worker's: its App's)."""
    from rendercli.services import upkeep

    upkeep.run(connection, worker=True, uow=uow)


PUBSUB_WAKE = 0.5  # seconds: how long a stopping worker may wait for its listener thread


class RenderWorker(Worker):
    """An RQ worker that runs only `rendercli.worker.render(job id)` and
    `rendercli.worker.render_task(task id)`, and sweeps the farm
    when idle (every RENDERCLI_WORKER_SWEEP_INTERVAL seconds, 30 by default)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from rq.serializers import JSONSerializer

        from rendercli.app import App

        rq_guard.check_rq_internals()
        self._app = App.for_worker()  # the worker role's login, when one is set
        preload(self._app.settings)
        interval = self._app.settings.worker_sweep_interval
        self._sweep_interval = interval
        self._last_sweep: float | None = None
        self._current_task: str | None = None  # the task a horse is running, if any
        self._stopping = False  # a SIGTERM or Ctrl-C came: stop waiting for Redis
        self._rejoin = False  # Redis came back: register again (it may have lost us)
        self._sweep_failing = False  # the last sweep failed (logged once per streak)
        self._outage = redis_outage.Outage(
            "Worker", log, give_up=lambda: self._stopping, on_end=self._after_outage)
        connection = kwargs.get("connection") or next(
            (q.connection for q in (args[0] if args else kwargs.get("queues", []))
             if getattr(q, "connection", None) is not None), None)
        if connection is None:
            raise TypeError("RenderWorker needs a Redis connection")
        kwargs["connection"] = connection
        redis_outage.make_patient(connection, self._outage)
        # Wake a little more often than the sweep interval, so a sweep is never a whole
        # interval late. `rq worker` passes its own defaults (600 s, 420 s): cap them.
        wake = max(1, interval - 1)
        kwargs["maintenance_interval"] = min(kwargs.get("maintenance_interval") or interval,
                                             interval)
        kwargs["worker_ttl"] = min(kwargs.get("worker_ttl") or wake + RQ_TTL_MARGIN,
                                   wake + RQ_TTL_MARGIN)
        # Whatever `rq worker` was told: JSON only (RQ's default would unpickle Redis
        # data), rendercli's guarded job class, and no job descriptions (text from Redis)
        # in the log.
        kwargs["serializer"] = JSONSerializer
        kwargs["job_class"] = rq_guard.GuardedJob
        kwargs["log_job_description"] = False
        super().__init__(*args, **kwargs)
        rq_guard.check_worker_fields(self)
        self._outage.who = f"Worker {self.name}"
        for queue in self.queues:  # `rq worker` builds the queues itself
            queue.job_class = rq_guard.GuardedJob
            queue.serializer = JSONSerializer

    def serialize(self) -> dict:
        data = super().serialize()
        data[WORKER_CLASS_FIELD] = WORKER_CLASS
        return data

    def dequeue_job_and_maintain_ttl(self, timeout: int | None,
                                     max_idle_time: int | None = None) -> Any:
        from redis.exceptions import RedisError
        from rq.exceptions import StopRequested

        while True:
            try:
                return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            except RedisError:
                if self._stopping:  # told to stop while Redis is away: stop
                    raise StopRequested() from None
                raise
            except Exception as exc:
                # RQ tags errors fetching a dequeued job with its id and queue. Without
                # this, one malformed job hash in Redis would stop the worker.
                job_id, queue = getattr(exc, "job_id", None), getattr(exc, "queue", None)
                if job_id is None or queue is None:
                    raise
                log.warning("refused RQ job %s on %s: it cannot be read (%s)",
                            rq_guard.shown(job_id), queue.name, rq_guard.shown(str(exc)))
                self.connection.lrem(queue.intermediate_queue_key, 1, job_id)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        """RQ's work loop; Redis outages are waited out (rendercli.redis_outage), and a
        worker told to stop while Redis is away stops without it."""
        from redis.exceptions import RedisError

        try:
            return bool(super().work(*args, **kwargs))
        except RedisError as exc:
            if not self._stopping:
                raise
            log.warning("Worker %s: stopped while Redis was unreachable (%s); its entry "
                        "there expires on its own", self.name, rq_guard.shown(str(exc)))
            return False

    def execute_job(self, job: Any, queue: Any) -> None:
        from redis.exceptions import RedisError
        from rq.exceptions import StopRequested

        # In this process, before any fork: nothing of a refused job is imported or run.
        try:
            rq_guard.check_job(job)
        except rq_guard.RefusedJob as exc:
            self._refuse(job, queue, str(exc))
            return
        self._current_task = job.id if job.func_name == rq_guard.TASK_FUNCTION else None
        try:
            super().execute_job(job, queue)
        except RedisError:
            if not self._stopping:  # only a stopping worker stops waiting for Redis
                raise
        finally:
            self._current_task = None
        if self._stopping:  # a warm shutdown came while the horse ran: take no other job
            raise StopRequested()

    def maintain_heartbeats(self, job: Any, execution: Any) -> None:
        from redis.exceptions import RedisError

        try:
            super().maintain_heartbeats(job, execution)
        except RedisError:  # stopping while Redis is away: the horse still finishes
            log.debug("Worker %s: no heartbeat in Redis (stopping, Redis away)", self.name)

    def request_stop(self, signum: int, frame: Any) -> None:
        # The first SIGTERM or Ctrl-C (warm shutdown). RQ asks Redis whether a job is
        # running: if Redis is away, we know it ourselves.
        from redis.exceptions import RedisError
        from rq.exceptions import StopRequested

        self._stopping = True
        try:
            super().request_stop(signum, frame)
        except RedisError:
            if not self.horse_pid:
                raise StopRequested() from None
            # Busy: execute_job stops the worker once the horse has finished.

    def subscribe(self) -> None:
        # RQ's own, but the listener thread wakes every PUBSUB_WAKE seconds instead of
        # 60: redis-py 8.2's PubSubWorkerThread.stop() joins the thread, which, once
        # unsubscribed, waits out that time for a subscription that never comes, so a
        # stopping worker hung for up to a minute after "unsubscribing".
        self.log.info("Worker %s: subscribing to channel %s", self.name,
                      self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=PUBSUB_WAKE, daemon=True,
            exception_handler=self._pubsub_exception_handler)

    def _pubsub_exception_handler(self, exc: Exception, pubsub: Any,
                                  pubsub_thread: Any) -> None:
        # RQ logs every retry of its command listener; the outage is logged once.
        if isinstance(exc, redis_outage.OUTAGE_ERRORS) and self._outage.failed(exc):
            time.sleep(redis_outage.MAX_WAIT / 5)
            return
        super()._pubsub_exception_handler(exc, pubsub, pubsub_thread)

    def _after_outage(self) -> None:
        """Redis is back: it may have lost the queue and this worker's registration
        (a restart without persistence), so sweep (re-dispatch queued rows and tasks
        Redis lost) and register again at the next idle moment."""
        self._last_sweep = None
        self._rejoin = True

    def _register_again(self) -> None:
        from rq import worker_registration

        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, mapping=self.serialize())
            worker_registration.register(self, pipe)
            self.heartbeat(pipeline=pipe)  # and its expiry
            pipe.execute()

    def request_force_stop(self, signum: int, frame: Any) -> None:
        # A second SIGTERM or Ctrl-C (cold shutdown): RQ kills the work horse and its
        # ffmpeg, then exits. (The first one is a warm shutdown: the horse finishes its
        # task and the worker takes no other.) The task it was running goes back to the
        # queue now, not after the heartbeat timeout.
        self._stopping = True
        task_id = self._current_task
        try:
            super().request_force_stop(signum, frame)
        except SystemExit:
            if task_id is not None:
                self._hand_back(task_id)
            raise

    def _hand_back(self, task_id: str) -> None:
        from rendercli.services.renders import dispatch, tasks

        uow = self._app.unit_of_work()
        try:
            job_id = tasks.hand_back(task_id, self.name, uow=uow)
            if job_id is not None:
                pending = dispatch.enqueue_tasks(job_id, self.connection, replace=True,
                                                 only=[task_id], uow=uow)
                log.warning("task %s handed back%s", task_id,
                            f" (dispatch is pending: {pending})" if pending else "")
        except Exception as exc:  # the heartbeat recovery hands it back later
            log.warning("could not hand task %s back: %s", task_id, exc)

    def _refuse(self, job: Any, queue: Any, reason: str) -> None:
        """Fail the RQ job with the reason, without running anything it names."""
        from rq.job import JobStatus
        from rq.results import Result
        from rq.utils import now

        log.warning("refused RQ job %s on %s: %s", job.id, queue.name, reason)
        message = f"refused by rendercli's render worker: {reason}"
        job.ended_at = now()
        with self.connection.pipeline() as pipe:
            job.set_status(JobStatus.FAILED, pipeline=pipe)
            queue.failed_job_registry.add(job, ttl=REFUSED_TTL, exc_string=message,
                                          pipeline=pipe)
            Result.create_failure(job, REFUSED_TTL, exc_string=message,
                                  worker_name=self.name, pipeline=pipe)
            pipe.lrem(queue.intermediate_queue_key, 1, job.id)
            pipe.execute()

    def fork_work_horse(self, job: Any, queue: Any) -> None:
        self._parent_pid = os.getpid()
        super().fork_work_horse(job, queue)

    def main_work_horse(self, job: Any, queue: Any) -> None:
        # The horse (and through it, ffmpeg) dies with this worker, even by SIGKILL.
        from rendercli.render.parent_death import die_with_parent

        die_with_parent(self._parent_pid)
        # The horse waits for Redis too (to record the job in RQ), and says so as itself.
        self._outage.forget()
        self._outage.who = f"Work horse of {job.id}"
        self._outage.on_end = None
        from rendercli.db.engines import after_fork

        after_fork()  # the worker's own database connections stay the worker's
        super().main_work_horse(job, queue)

    @property
    def should_run_maintenance_tasks(self) -> bool:
        if self._last_sweep is None:
            return True
        return time.monotonic() - self._last_sweep >= self._sweep_interval - 1

    def run_maintenance_tasks(self) -> None:
        from rq.exceptions import StopRequested
        from rq.utils import now

        self._last_sweep = time.monotonic()
        if self._rejoin:
            self._rejoin = False
            try:
                self._register_again()
            except Exception as exc:
                log.warning("could not register again in Redis: %s", rq_guard.shown(str(exc)))
        try:
            super().run_maintenance_tasks()
        except StopRequested:  # SIGTERM while idle: RQ's signal handler raised it here
            raise
        except Exception as exc:  # e.g. a malformed job in a registry: keep serving
            log.warning("RQ registry maintenance failed: %s", rq_guard.shown(str(exc)))
            self.last_cleaned_at = now()
        try:
            farm_upkeep(self.connection, self._app.unit_of_work())
        except StopRequested:
            raise
        except Exception as exc:  # never let upkeep kill the worker
            # Once per streak: an outage of the database fails every sweep until it ends.
            if not self._sweep_failing:
                log.warning("farm upkeep failed: %s (said once until it works again)",
                            " ".join(str(exc).split()))
            self._sweep_failing = True
        else:
            if self._sweep_failing:
                log.warning("farm upkeep works again")
            self._sweep_failing = False
