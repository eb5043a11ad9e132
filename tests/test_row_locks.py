"""A client's row locks on its own rows never stop the farm's recovery or dispatch for
other accounts (second round of issue 19's attacks).

bob holds the client login and his own token. With raw SQL he inserts job rows in his
own project that the farm's upkeep has to touch (a stale `processing` job, a queued job
dated 1970 so it is dispatched first, a stale task of his own split job) and then sits on
`SELECT ... FOR UPDATE` of those rows in a transaction he never ends. The workers' upkeep
(recovery, then dispatch) must still hand back and dispatch alice's jobs, without waiting
on bob's locks. The old code waited RENDERCLI_LOCK_TIMEOUT on bob's row, then the error
aborted the whole step for every account, at every sweep, for as long as bob pleased.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from rendercli.services.unit_of_work import UnitOfWork
from tests.servers import RedisServer
from tests.test_tenancy import Tenants, libpq, tenants  # noqa: F401  (the fixture)

# (id, project, status, created): a job of the caller's (its owner: the project's).
STALE_JOB = ("INSERT INTO render_jobs (id, project_id, owner_id, status, progress, preset, "
             "format, fps, quality, use_cache, attempts, worker_name, heartbeat_at, "
             "dispatched_at, created_at, updated_at) SELECT %s, p.id, p.owner_id, %s, 0, "
             "'720p', 'mp4', 30, 'standard', true, 1, 'w-dead', now() - interval '1 hour', "
             "NULL, %s, now() FROM projects AS p WHERE p.id = %s")


@pytest.fixture
def bob_locks(tenants: Tenants) -> Iterator[callable]:  # noqa: F811
    """Lock rows as bob (client role, his token) in a transaction left open."""
    holders: list[psycopg.Connection] = []

    def lock(sql: str, params: tuple[object, ...]) -> None:
        conn = psycopg.connect(libpq(tenants.client_url))
        conn.execute("SELECT set_config('rendercli.token', %s, true)", (tenants.bob_token,))
        assert conn.execute(sql, params).fetchall()  # he holds the lock
        holders.append(conn)

    yield lock
    for conn in holders:
        conn.rollback()
        conn.close()


@pytest.fixture
def worker_sessions(tenants: Tenants, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    from rendercli.db.engines import dispose_all
    from tests.orm import get_session_factory

    dispose_all()  # new connections read RENDERCLI_LOCK_TIMEOUT when they open
    monkeypatch.setenv("RENDERCLI_LOCK_TIMEOUT", "2")
    yield get_session_factory(tenants.worker_url)
    dispose_all()


def test_bobs_locked_stale_job_does_not_stop_alices_recovery(
        tenants: Tenants, bob_locks, worker_sessions) -> None:  # noqa: F811
    from rendercli.services.renders import lifecycle

    t = tenants
    t.owner("DELETE FROM render_tasks")  # plain jobs, not split ones
    t.owner("UPDATE render_jobs SET status = 'processing', attempts = 1, worker_name = 'w9', "
            "heartbeat_at = now() - interval '1 hour' WHERE id = %s", (t.ids["alice_job"],))
    t.run("UPDATE render_jobs SET status = 'processing', attempts = 1, worker_name = 'w9', "
          "heartbeat_at = now() - interval '1 hour' WHERE id = %s", (t.ids["bob_job"],))
    bob_locks("SELECT id FROM render_jobs WHERE id = %s FOR UPDATE", (t.ids["bob_job"],))
    started = time.monotonic()
    recovery = lifecycle.recover_stale(uow=UnitOfWork(worker_sessions.url))
    assert time.monotonic() - started < 1.5  # never waits on bob's lock
    assert t.ids["alice_job"] in recovery.requeued
    assert t.owner("SELECT status FROM render_jobs WHERE id = %s",
                   (t.ids["alice_job"],)) == [("queued",)]
    # bob's row is left for a later sweep, once he lets go.
    assert t.owner("SELECT status FROM render_jobs WHERE id = %s",
                   (t.ids["bob_job"],)) == [("processing",)]


def test_bobs_locked_stale_task_does_not_stop_alices_task_recovery(
        tenants: Tenants, bob_locks, worker_sessions) -> None:  # noqa: F811
    from rendercli.services.renders import lifecycle

    t = tenants
    for who in ("alice", "bob"):
        t.owner("UPDATE render_jobs SET status = 'processing' WHERE id = %s",
                (t.ids[f"{who}_job"],))
        t.owner("UPDATE render_tasks SET state = 'processing', attempts = 1, "
                "worker_name = 'w9', heartbeat_at = now() - interval '1 hour' WHERE id = %s",
                (t.ids[f"{who}_task"],))
    # bob locks his task, and in another transaction his job (its log is appended to).
    bob_locks("SELECT id FROM render_tasks WHERE id = %s FOR UPDATE", (t.ids["bob_task"],))
    started = time.monotonic()
    recovery = lifecycle.recover_stale(uow=UnitOfWork(worker_sessions.url))
    assert time.monotonic() - started < 1.5
    assert t.ids["alice_task"] in recovery.tasks_requeued
    assert t.owner("SELECT state FROM render_tasks WHERE id = %s",
                   (t.ids["alice_task"],)) == [("queued",)]


def test_bobs_locked_job_row_under_a_stale_task_does_not_stop_alices(
        tenants: Tenants, bob_locks, worker_sessions) -> None:  # noqa: F811
    from rendercli.services.renders import lifecycle

    t = tenants
    for who in ("alice", "bob"):
        t.owner("UPDATE render_jobs SET status = 'processing' WHERE id = %s",
                (t.ids[f"{who}_job"],))
        t.owner("UPDATE render_tasks SET state = 'processing', attempts = 1, "
                "worker_name = 'w9', heartbeat_at = now() - interval '1 hour' WHERE id = %s",
                (t.ids[f"{who}_task"],))
    bob_locks("SELECT id FROM render_jobs WHERE id = %s FOR UPDATE", (t.ids["bob_job"],))
    started = time.monotonic()
    recovery = lifecycle.recover_stale(uow=UnitOfWork(worker_sessions.url))
    assert time.monotonic() - started < 1.5
    assert t.ids["alice_task"] in recovery.tasks_requeued


def test_bobs_locked_queued_job_does_not_stop_dispatch_of_alices(
        tenants: Tenants, bob_locks, worker_sessions,  # noqa: F811
        redis_server: RedisServer) -> None:
    from redis import Redis
    from rq.job import Job
    from rq.serializers import JSONSerializer

    from rendercli.services.renders import dispatch

    t = tenants
    if not redis_server.external and not redis_server.ping():
        redis_server.start()
    redis_server.flush()
    t.owner("DELETE FROM render_tasks")
    # alice's job: queued while Redis was down (never dispatched).
    t.owner("UPDATE render_jobs SET dispatched_at = NULL WHERE id = %s", (t.ids["alice_job"],))
    # bob's: queued, dated first, locked.
    t.run("INSERT INTO projects (id, owner_id, name, created_at, updated_at) VALUES "
          "('bobsecond', %s, 'b2', now(), now())", (t.ids["bob_user"],))
    t.run(STALE_JOB, ("bobfirst", "queued", "1970-01-01", "bobsecond"))
    bob_locks("SELECT id FROM render_jobs WHERE id = 'bobfirst' FOR UPDATE", ())
    connection = Redis.from_url(redis_server.url)
    started = time.monotonic()
    dispatched = dispatch.reconcile(connection, uow=UnitOfWork(worker_sessions.url))
    assert time.monotonic() - started < 1.5
    assert t.ids["alice_job"] in dispatched
    assert Job.fetch(t.ids["alice_job"], connection=connection, serializer=JSONSerializer)
    assert t.owner("SELECT dispatched_at IS NOT NULL FROM render_jobs WHERE id = %s",
                   (t.ids["alice_job"],)) == [(True,)]
    # A second sweep while bob still holds his row: no wait either.
    started = time.monotonic()
    dispatch.reconcile(connection, uow=UnitOfWork(worker_sessions.url))
    assert time.monotonic() - started < 1.5


def test_upkeep_reads_only_the_tail_of_a_huge_log(
        tenants: Tenants, worker_sessions) -> None:  # noqa: F811
    """bob writes 20 MB into the log and error of each of his stale jobs (three projects,
    one active job each) and their tasks. The farm's recovery reads every account's stale
    jobs: it must not fetch those columns whole (PostgreSQL takes up to 1 GB a value, so
    a few rows would take a worker's memory). The old code loaded each row whole and kept
    it for the whole sweep."""
    import tracemalloc

    from rendercli.services.renders import lifecycle

    t = tenants
    huge = 20_000_000
    t.owner("DELETE FROM render_tasks WHERE id = %s", (t.ids["alice_task"],))
    bob_jobs = [t.ids["bob_job"]]
    for n in range(2):
        t.run("INSERT INTO projects (id, owner_id, name, created_at, updated_at) VALUES "
              "(%s, %s, %s, now(), now())", (f"bobp{n}", t.ids["bob_user"], f"b{n}"))
        t.run(STALE_JOB, (f"bobjob{n}", "processing", "2026-01-01", f"bobp{n}"))
        bob_jobs.append(f"bobjob{n}")
    t.run("UPDATE render_jobs SET status = 'processing', attempts = 1, worker_name = 'w9', "
          "heartbeat_at = now() - interval '1 hour', log = repeat('x', %s), "
          "error = repeat('y', %s)", (huge, huge))
    # bob's first job is split: its stale task goes through the task recovery.
    t.run("UPDATE render_tasks SET state = 'processing', worker_name = 'w9', "
          "heartbeat_at = now() - interval '1 hour', error = repeat('z', %s)", (huge,))
    tracemalloc.start()
    try:
        recovery = lifecycle.recover_stale(uow=UnitOfWork(worker_sessions.url))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sorted(recovery.requeued) == sorted(bob_jobs[1:])
    assert recovery.tasks_requeued == [t.ids["bob_task"]]
    assert peak < 8_000_000, f"{peak / 1e6:.0f} MB for logs of {3 * huge / 1e6:.0f} MB"
    from rendercli.config import get_settings

    for job in bob_jobs:
        (log,) = t.owner("SELECT log FROM render_jobs WHERE id = %s", (job,))[0]
        assert len(log) <= get_settings().log_limit and "stopped heartbeating" in log


@pytest.mark.parametrize("locked", ["job", "task", "job of task"])
def test_a_worker_does_not_wait_on_a_locked_row_it_is_handed(
        tenants: Tenants, bob_locks, worker_sessions, locked: str) -> None:  # noqa: F811
    """The reconciler keeps queueing bob's locked rows; a worker handed one must pass it
    by within a second, not spend its retries (the old code: six lock timeouts and the backoff
    between them, about 30 s here and 45 s with the default timeout, per RQ job) while
    every other account's jobs wait."""
    from rendercli.services.renders import lifecycle, tasks

    t = tenants
    if locked == "job":
        bob_locks("SELECT id FROM render_jobs WHERE id = %s FOR UPDATE", (t.ids["bob_job"],))
        claim = lambda: lifecycle.claim(t.ids["bob_job"], "w1", uow=UnitOfWork(worker_sessions.url))  # noqa: E731
    else:
        t.run("UPDATE render_jobs SET status = 'processing' WHERE id = %s", (t.ids["bob_job"],))
        table, key = (("render_tasks", "bob_task") if locked == "task"
                      else ("render_jobs", "bob_job"))
        bob_locks(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", (t.ids[key],))
        claim = lambda: tasks.claim(t.ids["bob_task"], "w1", uow=UnitOfWork(worker_sessions.url))  # noqa: E731
    started = time.monotonic()
    assert claim() is None
    assert time.monotonic() - started < 3


def test_a_client_command_still_recovers_its_own_jobs(tenants: Tenants) -> None:  # noqa: F811
    """The row locks recovery takes are allowed to the client role too (its commands hand
    back their own jobs and tasks), and reach no one else's."""
    from rendercli.services.renders import lifecycle

    t = tenants
    t.owner("DELETE FROM render_tasks WHERE id = %s", (t.ids["bob_task"],))
    for who in ("alice", "bob"):
        t.owner("UPDATE render_jobs SET status = 'processing', attempts = 1, "
                "worker_name = 'w9', heartbeat_at = now() - interval '1 hour' WHERE id = %s",
                (t.ids[f"{who}_job"],))
        t.owner("UPDATE render_tasks SET state = 'processing', attempts = 1, worker_name = "
                "'w9', heartbeat_at = now() - interval '1 hour' WHERE job_id = %s",
                (t.ids[f"{who}_job"],))
    recovery = lifecycle.recover_stale(uow=UnitOfWork(t.client_url, token=t.bob_token))
    assert recovery.requeued == [t.ids["bob_job"]] and recovery.tasks_requeued == []
    assert t.owner("SELECT state FROM render_tasks WHERE id = %s",
                   (t.ids["alice_task"],)) == [("processing",)]
