"""Outages under a running farm: real `rendercli worker` processes, a real Redis shut down
and brought back on the same socket, a real PostgreSQL stopped and started. A worker
waits an outage out, whatever its length, and carries on."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rendercli.config import read_settings
from tests.conftest import EXISTING_POSTGRES, Account, Cli, make_account
from tests.farm import Farm, wait_for
from tests.media_factory import make_image, make_video
from tests.servers import PostgresServer
from tests.test_farm_parallel import job_tasks, probe, start_workers, status

pytestmark = [pytest.mark.slow,
              pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]

FAST = ["--preset", "480p", "--fps", "10", "--quality", "draft"]
SLOW = ["--preset", "720p", "--fps", "30", "--quality", "high", "--no-cache"]
OUTAGE_SECONDS = 6  # how long the server stays down (the outage itself, not a render)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("outage-media")
    return {
        "a": make_video(d / "a.mp4", duration=1.0),
        "still": make_image(d / "still.png"),
        "slow": make_video(d / "slow.mp4", duration=12.0, size=(640, 360), fps=30),
    }


def _render_elsewhere(alice: Account, media, farm: Farm, workers: set[str]) -> None:
    """A new job after the outage is rendered by these (still living) workers."""
    alice.ok("project", "create", "after")
    alice.ok("asset", "add", "after", str(media["a"]), str(media["still"]), "--duration", "1")
    job_id = alice.ok("render", "submit", "after", *FAST).stdout.strip()
    watched = alice("jobs", "watch", job_id, "--interval", "0.3", "--timeout", "120")
    assert watched.exit_code == 0, (watched.stdout, farm.logs())
    assert status(alice, job_id)["worker_name"] in workers


def test_busy_workers_wait_out_a_redis_outage(alice: Account, media, farm: Farm,
                                              monkeypatch) -> None:
    """Two workers mid-task on a split render; Redis shuts down (losing every queued RQ
    job) and is back 6 s later: the tasks that were running finish and are recorded, the
    workers reconnect and finish the job, and take the next one."""
    if farm.redis.external:
        pytest.skip("needs a Redis the tests can stop")
    monkeypatch.setenv("RENDERCLI_CHUNK_SECONDS", "3")
    alice.ok("project", "create", "slow")
    alice.ok("asset", "add", "slow", str(media["slow"]))
    procs = start_workers(farm, "r1", "r2")
    job_id = alice.ok("render", "submit", "slow", *SLOW).stdout.strip()

    def both_encoding() -> list[dict] | None:
        busy = [t for t in job_tasks(alice, job_id)
                if t["state"] == "processing" and t["progress"] > 0]
        return busy if {t["worker_name"] for t in busy} == {"r1", "r2"} else None

    running = wait_for(both_encoding, 90, "both workers to be mid-task")
    farm.redis.stop()  # a clean shutdown, like `redis-cli shutdown` (and nothing saved)
    time.sleep(OUTAGE_SECONDS)
    farm.redis.start()
    watched = alice("jobs", "watch", job_id, "--interval", "0.5", "--timeout", "150")
    assert watched.exit_code == 0, (watched.stdout, farm.logs())
    tasks = {t["id"]: t for t in job_tasks(alice, job_id)}
    assert all(t["state"] == "completed" for t in tasks.values())
    for task in running:  # finished by the worker that had it, not redone
        assert tasks[task["id"]]["attempts"] == 1
        assert tasks[task["id"]]["worker_name"] == task["worker_name"]
    assert probe(Path(status(alice, job_id)["output_path"]))[0] == 12 * 30
    assert [p.poll() for p in procs] == [None, None], farm.logs()
    # Redis lost the workers' registrations too: they registered again.
    from rq import Worker

    from rendercli.services.renders.dispatch import redis_connection, render_queue

    conn = redis_connection(read_settings().redis_url)
    wait_for(lambda: sorted(w.name for w in Worker.all(connection=conn,
                                                       queue=render_queue(conn))) == ["r1", "r2"],
             60, "both workers to be registered again")
    _render_elsewhere(alice, media, farm, {"r1", "r2"})
    assert [p.poll() for p in procs] == [None, None], farm.logs()
    logs = farm.logs()
    assert "unhandled exception" not in logs, logs
    for name in ("r1", "r2"):  # once per outage, not once per retry
        mine = (farm.log_dir / f"worker-{name}.log").read_text()
        assert mine.count(f"Worker {name}: Redis is unreachable") == 1, mine
        assert mine.count(f"Worker {name}: Redis is reachable again") == 1, mine


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own (the suite's is shared: it cannot stop)."""
    if EXISTING_POSTGRES:
        pytest.skip("needs a PostgreSQL server the tests start")
    data_dir = Path(tempfile.mkdtemp(prefix="rc-pg-outage-"))
    server = PostgresServer.start(data_dir)
    server.create_template()
    yield server
    server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


def test_an_idle_worker_waits_out_a_postgres_outage(cli: Cli, media, farm: Farm,
                                                    own_postgres: PostgresServer,
                                                    monkeypatch) -> None:
    """PostgreSQL stops for a while under an idle worker that sweeps every 2 s: the
    failing sweeps do not stop it, and it renders the next job once the database is
    back."""
    from rendercli.db.engines import dispose_all

    url = own_postgres.create_database()
    monkeypatch.setenv("RENDERCLI_DATABASE_URL", own_postgres.client_url(url))
    monkeypatch.setenv("RENDERCLI_WORKER_DATABASE_URL", own_postgres.worker_url(url))
    monkeypatch.setenv("RENDERCLI_WORKER_SWEEP_INTERVAL", "2")
    dispose_all()
    alice = make_account(cli, "alice@example.com")
    (proc,) = start_workers(farm, "idle")
    wait_for(lambda: "Worker idle: cleaning registries" in farm.logs(), 30, "a first sweep")
    own_postgres.pause()
    wait_for(lambda: "farm upkeep failed" in farm.logs(), 30, "a sweep to fail")
    time.sleep(OUTAGE_SECONDS)  # more sweeps fail meanwhile
    own_postgres.resume()
    assert proc.poll() is None, farm.logs()
    _render_elsewhere(alice, media, farm, {"idle"})
    assert proc.poll() is None, farm.logs()
    # said at the first sweep that works (the job may have been rendered before it)
    wait_for(lambda: "farm upkeep works again" in farm.logs(), 30, "a sweep to work")
    logs = farm.logs()
    assert logs.count("farm upkeep failed") == 1, logs  # once, not once a sweep


def test_an_assemble_task_left_waiting_on_lost_rq_jobs_is_released(
        alice: Account, media, farm: Farm) -> None:
    """Redis lost the RQ jobs of a split render's tasks (a restart), and their workers
    recorded them done in the database only: the assemble task, deferred on RQ jobs that
    will never finish, is put on the queue by the next sweep."""
    from rq.job import Job

    from rendercli.services.renders import dispatch
    from rendercli.services.unit_of_work import UnitOfWork
    from tests.test_farm_parallel import _split_job, worker_sessions

    job_id = _split_job(alice, media, 2, "lost")
    conn = dispatch.redis_connection(read_settings().redis_url)
    assert dispatch.enqueue_tasks(job_id, conn, uow=UnitOfWork(worker_sessions())) is None
    *segments, assemble = job_tasks(alice, job_id)
    for task in segments:
        Job.fetch(task["id"], connection=conn).delete()
    with UnitOfWork(worker_sessions()) as uow:
        uow.rows.run("UPDATE render_tasks SET state = 'completed' "
                     "WHERE job_id = :j AND kind = 'segment'", j=job_id)
        uow.commit()
    assert Job.fetch(assemble["id"], connection=conn).get_status() == "deferred"
    assert dispatch.reconcile(conn, uow=UnitOfWork(worker_sessions())) == [assemble["id"]]
    assert Job.fetch(assemble["id"], connection=conn).get_status() == "queued"
    assert assemble["id"] in dispatch.render_queue(conn).job_ids
    assert dispatch.reconcile(conn, uow=UnitOfWork(worker_sessions())) == []  # and only once


def test_a_worker_told_to_stop_while_redis_is_away_stops(farm: Farm) -> None:
    """An idle worker waiting for Redis still obeys SIGTERM (`docker stop`)."""
    if farm.redis.external:
        pytest.skip("needs a Redis the tests can stop")
    (proc,) = start_workers(farm, "leaving")
    farm.redis.stop()
    try:
        wait_for(lambda: "Worker leaving: Redis is unreachable" in farm.logs(), 30,
                 "the worker to notice the outage")
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(20) == 0, farm.logs()
    finally:
        farm.redis.start()
    assert "unhandled exception" not in farm.logs()
