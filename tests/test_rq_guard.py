"""rendercli.rq_guard: what a render worker accepts from Redis, checked without a worker.

The end-to-end proof (a real worker fed hostile jobs) is in test_farm.py; these pin the
rules, and fail loudly when an RQ release changes the internals the guard overrides.
"""

from __future__ import annotations

import json
import pickle
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import Callback, Queue
from rq.exceptions import DeserializationError
from rq.serializers import JSONSerializer

from rendercli import rq_guard
from rendercli.db.ids import new_id
from tests.servers import RedisServer

JOB = "k2x9c0c0p1q8r7s6t5u4v3w2"
OTHER = "ya9ibd8hylwhynbmqlgmt89a"  # another id (fixed: xdist workers collect alike)


def payload(*value: object) -> bytes:
    return json.dumps(list(value)).encode()


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[Redis]:
    if not redis_server.external and not redis_server.ping():
        redis_server.start()
    redis_server.flush()
    yield Redis.from_url(redis_server.url)
    redis_server.flush()


def test_rq_internals_are_the_ones_the_guard_overrides() -> None:
    rq_guard.check_rq_internals()  # raises, naming what changed, on an unsupported RQ


def test_the_internals_check_names_what_is_missing(monkeypatch) -> None:
    monkeypatch.setattr(rq_guard, "RQ_INTERNALS",
                        [*rq_guard.RQ_INTERNALS, ("rq.job.Job", "no_such_thing", None)])
    with pytest.raises(RuntimeError, match=r"rq\.job\.Job\.no_such_thing is gone"):
        rq_guard.check_rq_internals()


def test_a_render_worker_checks_the_worker_fields_it_writes(redis: Redis) -> None:
    from rq import Queue

    from rendercli.worker import RenderWorker

    worker = RenderWorker([Queue("render-video", connection=redis)], connection=redis)
    rq_guard.check_worker_fields(worker)  # the real worker has them all
    assert "last_cleaned_at" in rq_guard.RQ_WORKER_FIELDS  # worker.py writes it
    del worker.last_cleaned_at  # an RQ that no longer sets it
    with pytest.raises(RuntimeError, match=r"Worker\(\)\.last_cleaned_at gone"):
        rq_guard.check_worker_fields(worker)


def test_the_one_accepted_payload() -> None:
    assert rq_guard.parse_payload(payload(rq_guard.RENDER_FUNCTION, None, [JOB], {}), JOB) == JOB


def test_the_task_payload_is_accepted_with_the_same_shape() -> None:
    raw = payload(rq_guard.TASK_FUNCTION, None, [JOB], {})
    assert rq_guard.parse_call(raw, JOB) == (rq_guard.TASK_FUNCTION, JOB)
    assert rq_guard.FUNCTIONS == (rq_guard.RENDER_FUNCTION, rq_guard.TASK_FUNCTION)


@pytest.mark.parametrize(("raw", "reason"), [
    (payload(rq_guard.TASK_FUNCTION, None, ["../../etc/passwd"], {}), "not one job id"),
    (payload(rq_guard.TASK_FUNCTION, None, [JOB, JOB], {}), "not one job id"),
    (payload(rq_guard.TASK_FUNCTION, None, [], {"task_id": JOB}), "keyword arguments"),
    (payload(rq_guard.TASK_FUNCTION, None, [OTHER], {}), "is not the RQ job's id"),
    (payload("rendercli.worker.farm_upkeep", None, [JOB], {}), "is not"),
    (payload("rendercli.worker.render_task ", None, [JOB], {}), "is not"),
])
def test_task_calls_of_any_other_shape_are_refused(raw: object, reason: str) -> None:
    with pytest.raises(rq_guard.RefusedJob, match=reason):
        rq_guard.parse_call(raw, JOB)


def test_a_guarded_task_job_runs_only_render_task_with_its_own_id(redis: Redis) -> None:
    from rq.job import Dependency

    queue = Queue("render-video", connection=redis, serializer=JSONSerializer)
    other = new_id()
    queue.enqueue(rq_guard.TASK_FUNCTION, other, job_id=other)
    # The assemble task waits on its siblings through RQ's own dependencies.
    queue.enqueue(rq_guard.TASK_FUNCTION, JOB, job_id=JOB, depends_on=Dependency([other]))
    job = rq_guard.GuardedJob.fetch(JOB, connection=redis, serializer=JSONSerializer)
    from rendercli.worker import render_task

    assert rq_guard.check_call(job) == (rq_guard.TASK_FUNCTION, JOB)
    assert job.func is render_task and job.args == [JOB] and job.kwargs == {}
    assert job.get_status() == "deferred"


def test_dispatch_enqueues_what_the_guard_accepts() -> None:
    from rq import Queue

    from rendercli.config import read_settings
    from rendercli.services.renders import dispatch

    data = dispatch.render_job_data(Queue, JOB, read_settings({}))
    assert (data.func, list(data.args)) == (rq_guard.RENDER_FUNCTION, [JOB])  # type: ignore[attr-defined]
    assert all(rq_guard.JOB_ID.fullmatch(new_id()) for _ in range(200))


@pytest.mark.parametrize(("raw", "reason"), [
    (payload("os.system", None, ["id"], {}), "function 'os.system' is not"),
    (payload("builtins.exec", None, ["1"], {}), "function 'builtins.exec'"),
    (payload(rq_guard.RENDER_FUNCTION, None, ["../../etc/passwd"], {}), "not one job id"),
    (payload(rq_guard.RENDER_FUNCTION, None, [JOB, JOB], {}), "not one job id"),
    (payload(rq_guard.RENDER_FUNCTION, None, [JOB.upper()], {}), "not one job id"),
    (payload(rq_guard.RENDER_FUNCTION, None, [], {"job_id": JOB}), "keyword arguments"),
    (payload(rq_guard.RENDER_FUNCTION, "x", [JOB], {}), "an instance"),
    (payload(rq_guard.RENDER_FUNCTION, None, [OTHER], {}), "is not the RQ job's id"),
    (payload(rq_guard.RENDER_FUNCTION), "not an RQ job in JSON"),
    (b'{"a": NaN}', "not JSON"),
    (pickle.dumps(("os.system", None, ("id",), {})), "not JSON"),
    (b"[" * 100_000, "more than a render job's"),
    (None, "no payload"),
])
def test_everything_else_is_refused(raw: object, reason: str) -> None:
    with pytest.raises(rq_guard.RefusedJob, match=reason.replace("(", r"\(")):
        rq_guard.parse_payload(raw, JOB)


class Bomb:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.path,))


def test_a_pickle_in_redis_is_never_loaded(redis: Redis, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    queue = Queue("render-video", connection=redis, serializer=JSONSerializer)
    job = queue.enqueue(rq_guard.RENDER_FUNCTION, JOB, job_id=JOB)
    redis.hset(job.key, "data", zlib.compress(pickle.dumps(Bomb(canary))))
    # Even with RQ's pickle serializer, the guarded job reads its data as JSON only.
    fetched = rq_guard.GuardedJob.fetch(JOB, connection=redis)
    with pytest.raises(rq_guard.RefusedJob, match="not JSON"):
        rq_guard.check_job(fetched)
    with pytest.raises(DeserializationError):
        _ = fetched.func_name
    with pytest.raises(rq_guard.RefusedJob):
        _ = fetched.func
    assert not canary.exists()


def test_a_guarded_job_runs_only_render_with_its_own_id(redis: Redis) -> None:
    queue = Queue("render-video", connection=redis, serializer=JSONSerializer)
    queue.enqueue(rq_guard.RENDER_FUNCTION, JOB, job_id=JOB)
    job = rq_guard.GuardedJob.fetch(JOB, connection=redis, serializer=JSONSerializer)
    from rendercli.worker import render

    assert rq_guard.check_job(job) == JOB
    assert job.func is render and job.args == [JOB] and job.kwargs == {}


def test_callbacks_named_in_redis_are_never_imported(redis: Redis) -> None:
    queue = Queue("render-video", connection=redis, serializer=JSONSerializer)
    queue.enqueue(rq_guard.RENDER_FUNCTION, JOB, job_id=JOB,
                  on_success=Callback("os.system"), on_failure=Callback("os.system"),
                  on_stopped=Callback("os.system"))
    job = rq_guard.GuardedJob.fetch(JOB, connection=redis, serializer=JSONSerializer)
    with pytest.raises(rq_guard.RefusedJob, match="success callback"):
        rq_guard.check_job(job)
    # RQ's registry clean-ups call failure callbacks of abandoned jobs: there are none.
    assert job.success_callback is None and job.failure_callback is None
    assert job.stopped_callback is None


def test_a_render_worker_is_guarded_and_sweeps_in_time_whatever_rq_worker_passes(
    redis: Redis,
) -> None:
    import time

    from rq.serializers import DefaultSerializer

    from rendercli.config import get_settings
    from rendercli.worker import RenderWorker

    # What `rq worker -w rendercli.worker.RenderWorker render-video` passes by default.
    queue = Queue("render-video", connection=redis, serializer=DefaultSerializer)
    worker = RenderWorker([queue], connection=redis, serializer=DefaultSerializer,
                          job_class="rq.job.Job", worker_ttl=420, maintenance_interval=600)
    assert worker.serializer is JSONSerializer and worker.job_class is rq_guard.GuardedJob
    assert worker.queues[0].serializer is JSONSerializer
    assert worker.queues[0].job_class is rq_guard.GuardedJob
    assert worker.log_job_description is False  # descriptions are text from Redis
    # Back in play within 90 s by default: stale after the heartbeat timeout, and an idle
    # worker wakes before a whole sweep interval has passed and then sweeps.
    settings = get_settings()
    assert settings.heartbeat_timeout + settings.worker_sweep_interval <= 90
    assert worker.dequeue_timeout < settings.worker_sweep_interval
    assert worker.should_run_maintenance_tasks  # at start
    worker._last_sweep = time.monotonic()
    assert not worker.should_run_maintenance_tasks
    worker._last_sweep = time.monotonic() - worker.dequeue_timeout  # one idle wake-up later
    assert worker.should_run_maintenance_tasks


def test_the_guard_and_the_worker_do_not_import_each_other() -> None:
    """Either module imports first in a fresh interpreter, and the functions the guard
    hands to RQ are the ones RQ's names in Redis resolve to."""
    import subprocess
    import sys

    check = (
        "import importlib, sys\n"
        "first = importlib.import_module(sys.argv[1])\n"
        "assert 'rendercli.worker' not in sys.modules or sys.argv[1] == 'rendercli.worker'\n"
        "from rendercli import rq_guard, worker\n"
        "for name in rq_guard.FUNCTIONS:\n"
        "    module, _, attr = name.rpartition('.')\n"
        "    assert getattr(importlib.import_module(module), attr) is rq_guard._CALLABLES[name]\n"
    )
    for first in ("rendercli.rq_guard", "rendercli.worker"):
        done = subprocess.run([sys.executable, "-c", check, first], capture_output=True,
                              text=True, check=False)
        assert done.returncode == 0, (first, done.stderr)


def test_a_render_worker_loads_the_render_code_before_it_forks_a_horse(
    redis: Redis, redis_server: RedisServer,
) -> None:
    """RQ forks a work horse per job and per task: what the horse runs is imported once
    in the worker (each horse inherits it), not again in every horse."""
    import ast
    import subprocess
    import sys

    from rendercli.worker import PRELOAD

    check = (
        "import sys\n"
        "from redis import Redis\n"
        "from rq import Queue\n"
        "from rendercli.worker import PRELOAD, RenderWorker\n"
        "assert not [m for m in PRELOAD if m in sys.modules], 'loaded on import'\n"
        "redis = Redis.from_url(sys.argv[1])\n"
        "RenderWorker([Queue('render-video', connection=redis)], connection=redis)\n"
        "print(sorted(m for m in PRELOAD if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", check, redis_server.url],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert ast.literal_eval(done.stdout.strip()) == sorted(PRELOAD)
    assert "rendercli.render.engine" in PRELOAD
    assert "rendercli.services.renders.execute" in PRELOAD
