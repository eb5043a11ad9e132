"""What a render worker accepts from Redis: rendercli's own job functions and one id.

Whoever can write to Redis can put a job on `render-video`. Left to itself, RQ imports
and calls whatever function a job names, with whatever arguments, unpickles its data with
the default serializer, and imports the job's callbacks by name. A render worker reads
each job's raw payload as JSON itself and runs it only if it is exactly
`rendercli.worker.render("<job id>")` or `rendercli.worker.render_task("<task id>")` for
the RQ job's own id, with no callbacks. Anything else is failed in RQ before anything is
imported, called or unpickled.

This is the one module that relies on RQ internals (private methods and attributes of
`Job` and `Worker`). `check_rq_internals` fails loudly when an RQ release changes them: the
worker runs it at start-up, and the test suite runs it too.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import socket
from typing import Any

from rq.exceptions import DeserializationError
from rq.job import Job

from rendercli.errors import shown
from rendercli.services.renders import RENDER_FUNCTION, TASK_FUNCTION

log = logging.getLogger(__name__)

FUNCTIONS = (RENDER_FUNCTION, TASK_FUNCTION)  # the only functions a render worker runs


def _worker_name() -> str:
    from rq import get_current_job

    job = get_current_job()
    name = getattr(job, "worker_name", None) if job is not None else None
    return name or f"{socket.gethostname()}.{os.getpid()}"


def render(job_id: str) -> dict[str, Any]:
    """RQ job function: render one job (the RQ job id is the render job id)."""
    from rendercli.app import App
    from rendercli.services.renders import execute, lifecycle

    uow = App.for_worker().unit_of_work()  # `rq worker` without RenderWorker too
    try:
        lifecycle.recover_stale(uow=uow)
    except Exception as exc:  # upkeep must never stop a render
        log.warning("stale-job recovery failed: %s", exc)
    view = execute.execute(job_id, worker_name=_worker_name(), uow=uow)
    return {"job_id": job_id, "status": view.status if view else "skipped"}


def render_task(task_id: str) -> dict[str, Any]:
    """RQ job function: run one task of a split render (the RQ job id is the task id)."""
    from rendercli.app import App
    from rendercli.services.renders import execute

    uow = App.for_worker().unit_of_work()  # `rq worker` without RenderWorker too
    state = execute.execute_task(task_id, worker_name=_worker_name(), uow=uow)
    return {"task_id": task_id, "state": state or "skipped"}


# What those names call.
_CALLABLES = {RENDER_FUNCTION: render, TASK_FUNCTION: render_task}
MAX_PAYLOAD_BYTES = 4096  # a real payload is about 60 bytes
# The shape of rendercli.db.ids.new_id(): a cuid2 of 24 characters, starting with a letter.
JOB_ID = re.compile(r"[a-z][a-z0-9]{23}")


class RefusedJob(Exception):
    """An RQ job a render worker will not run; the message says why, in one line."""


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def parse_payload(raw: object, rq_job_id: str) -> str:
    """The render job (or task) id in a raw RQ job payload; see `parse_call`."""
    return parse_call(raw, rq_job_id)[1]


def parse_call(raw: object, rq_job_id: str) -> tuple[str, str]:
    """(function, id) of a raw RQ job payload (the bytes RQ keeps in the job's `data`).

    The payload must be JSON for `[function, null, [id], {}]` with a function of
    FUNCTIONS (what `Queue.enqueue(function, id)` writes with RQ's JSONSerializer), and
    the id must be the RQ job's own id. Raises RefusedJob otherwise; never unpickles.
    """
    if not isinstance(raw, bytes | bytearray):
        raise RefusedJob("the job has no payload")
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise RefusedJob(f"the payload is {len(raw)} bytes, more than a render job's")
    try:
        value = json.loads(bytes(raw).decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RefusedJob("the payload is not JSON (pickled or another serializer)") from None
    if not (isinstance(value, list) and len(value) == 4):
        raise RefusedJob("the payload is not an RQ job in JSON")
    function, instance, args, kwargs = value
    if function not in FUNCTIONS:
        raise RefusedJob(f"function {shown(function)} is not {' or '.join(FUNCTIONS)}")
    if instance is not None or kwargs != {}:
        raise RefusedJob("the call has an instance or keyword arguments")
    if not (isinstance(args, list) and len(args) == 1 and isinstance(args[0], str)
            and JOB_ID.fullmatch(args[0])):
        raise RefusedJob(f"the arguments {shown(args)} are not one job id")
    if args[0] != rq_job_id:
        raise RefusedJob(f"the job id {args[0]} is not the RQ job's id {shown(rq_job_id)}")
    return str(function), str(args[0])


def check_job(job: Job) -> str:
    """The render job (or task) id `job` may run, or RefusedJob: its payload and
    everything else RQ would import or call on its behalf (callbacks, webhooks) are
    checked."""
    return check_call(job)[1]


def check_call(job: Job) -> tuple[str, str]:
    """(function, id) `job` may run, or RefusedJob; see `check_job`."""
    call = parse_call(job.data, job.id)
    for kind in ("success", "failure", "stopped"):
        if getattr(job, f"_{kind}_callback_name", None):
            raise RefusedJob(f"the job has a {kind} callback, which render jobs never have")
    if getattr(job, "webhooks", None):
        raise RefusedJob("the job has webhooks, which render jobs never have")
    return call


class GuardedJob(Job):
    """An RQ job that can only ever run `rendercli.worker.render(its own id)` or
    `rendercli.worker.render_task(its own id)`.

    Used for every job a render worker touches, including in RQ's own registry clean-ups,
    so no code path imports a function or callback named in Redis, or unpickles data.
    """

    def _deserialize_data(self) -> None:
        try:
            function, job_id = parse_call(self.data, self.id)
        except RefusedJob as exc:
            raise DeserializationError(str(exc)) from None
        self._func_name, self._instance, self._args, self._kwargs = (
            function, None, [job_id], {})

    @property
    def func(self) -> Any:
        function, job_id = check_call(self)  # again, in the work horse, just before the call
        if list(self.args) != [job_id] or self.kwargs or self._func_name != function:
            raise RefusedJob("the call changed after it was checked")
        return _CALLABLES[function]

    # Render jobs have no callbacks: never import one by a name read from Redis.
    @property
    def success_callback(self) -> None:
        return None

    @property
    def failure_callback(self) -> None:
        return None

    @property
    def stopped_callback(self) -> None:
        return None

    def send_webhooks(self, *args: Any, **kwargs: Any) -> None:
        """Render jobs have no webhooks: never send requests to addresses read from Redis."""
        return None


# (class or module, attribute, parameters it must have) for everything this module and
# rendercli.worker.RenderWorker override or call that RQ does not document.
RQ_INTERNALS: list[tuple[str, str, tuple[str, ...] | None]] = [
    ("rq.job.Job", "_deserialize_data", ("self",)),
    ("rq.job.Job", "data", None),
    ("rq.job.Job", "func", None),
    ("rq.job.Job", "args", None),
    ("rq.job.Job", "kwargs", None),
    ("rq.job.Job", "success_callback", None),
    ("rq.job.Job", "failure_callback", None),
    ("rq.job.Job", "stopped_callback", None),
    ("rq.job.Job", "send_webhooks", None),
    ("rq.job.Job", "restore", ("self", "raw_data")),
    ("rq.worker.Worker", "execute_job", ("self", "job", "queue")),
    ("rq.worker.Worker", "dequeue_job_and_maintain_ttl", ("self", "timeout", "max_idle_time")),
    ("rq.worker.Worker", "run_maintenance_tasks", ("self",)),
    ("rq.worker.Worker", "should_run_maintenance_tasks", None),
    ("rq.worker.Worker", "fork_work_horse", ("self", "job", "queue")),
    ("rq.worker.Worker", "main_work_horse", ("self", "job", "queue")),
    ("rq.worker.Worker", "serialize", ("self",)),
    ("rq.worker.Worker", "request_force_stop", ("self", "signum", "frame")),
    ("rq.worker.Worker", "work", None),  # documented; overridden (listed like the rest)
    ("rq.worker.Worker", "request_stop", ("self", "signum", "frame")),
    ("rq.worker.Worker", "maintain_heartbeats", ("self", "job", "execution")),
    ("rq.worker.Worker", "_pubsub_exception_handler",
     ("self", "exc", "pubsub", "pubsub_thread")),
    ("rq.worker.Worker", "subscribe", ("self",)),
    ("rq.worker.Worker", "pubsub_channel_name", None),
    ("rq.worker.Worker", "handle_payload", ("self", "message")),
    ("rq.worker.Worker", "horse_pid", None),
    ("rq.worker.Worker", "heartbeat", ("self", "timeout", "pipeline")),
    ("rq.worker_registration", "register", ("worker", "pipeline")),
    ("rq.queue.Queue", "intermediate_queue_key", None),
    ("rq.queue.Queue", "failed_job_registry", None),
    ("rq.results.Result", "create_failure", None),
]
# Job fields RQ sets from the Redis hash in Job.restore, which check_job reads.
RQ_JOB_FIELDS = ("_data", "_func_name", "_success_callback_name", "_failure_callback_name",
                 "_stopped_callback_name", "webhooks")

# Worker fields RQ sets in Worker.__init__ that rendercli.worker.RenderWorker reads or
# writes (last_cleaned_at: when the maintenance tasks last ran; the pubsub pair: the
# listener a stopping worker closes). Checked on the worker itself as it starts.
RQ_WORKER_FIELDS = ("last_cleaned_at", "pubsub", "pubsub_thread", "key", "queues")


def check_worker_fields(worker: object) -> None:
    """Raise RuntimeError naming the fields this RQ's Worker no longer sets."""
    missing = [name for name in RQ_WORKER_FIELDS if not hasattr(worker, name)]
    if missing:
        import rq

        raise RuntimeError(
            f"rendercli's render worker does not support rq {rq.VERSION} (see "
            f"pyproject.toml): rq.worker.Worker().{', '.join(missing)} gone")


def check_rq_internals() -> None:
    """Raise RuntimeError naming what changed if this RQ no longer has what we override."""
    from importlib import import_module

    problems = []
    for dotted, name, params in RQ_INTERNALS:
        module, _, cls_name = dotted.rpartition(".")
        cls = getattr(import_module(module), cls_name)
        member = inspect.getattr_static(cls, name, None)
        if member is None:
            problems.append(f"{dotted}.{name} is gone")
            continue
        if params is not None:
            found = tuple(inspect.signature(member).parameters)
            if found != params:
                problems.append(f"{dotted}.{name}{found} is not {name}{params}")
    from redis import Redis

    job = Job(connection=Redis())  # a client connects only when used: none is needed here
    problems += [f"rq.job.Job().{field} is gone" for field in RQ_JOB_FIELDS
                 if not hasattr(job, field)]
    if problems:
        import rq

        raise RuntimeError(
            f"rendercli's render worker does not support rq {rq.VERSION} "
            f"(see pyproject.toml): {'; '.join(problems)}"
        )
