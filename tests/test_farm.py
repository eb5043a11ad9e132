"""Farm mode end to end: real Redis, real PostgreSQL, real `rq worker` processes, real ffmpeg."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rendercli.config import read_settings
from tests.conftest import Account
from tests.farm import Farm, wait_for
from tests.media_factory import make_image, make_video
from tests.processes import processes_with, wait_until_gone
from tests.servers import PostgresServer

pytestmark = [pytest.mark.slow,
              pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]

FAST = ["--preset", "480p", "--fps", "10", "--quality", "draft"]
SLOW = ["--preset", "1080p", "--fps", "30", "--quality", "high", "--no-cache"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("farm-media")
    return {
        "a": make_video(d / "a.mp4", duration=1.0),
        "still": make_image(d / "still.png"),
        "long": make_video(d / "long.mp4", duration=12.0, size=(640, 360)),
    }


@pytest.fixture
def film(alice: Account, clips) -> str:
    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(clips["a"]), str(clips["still"]), "--duration", "1")
    return "film"


@pytest.fixture
def long_film(alice: Account, clips) -> str:
    alice.ok("project", "create", "long")
    alice.ok("asset", "add", "long", str(clips["long"]))
    return "long"


def status(account: Account, job_id: str) -> dict:
    return json.loads(account.ok("jobs", "status", job_id, "--json").stdout)


def outputs(tmp_path: Path, job_id: str) -> list[Path]:
    return sorted((tmp_path / "data" / "storage" / "renders").glob(f"{job_id}*"))


def processing(account: Account, job_id: str, *, min_progress: float = 0.5):
    def check() -> dict | None:
        job = status(account, job_id)
        ok = job["status"] == "processing" and job["progress"] >= min_progress
        return job if ok else None
    return check


def test_submit_returns_at_once_and_a_worker_renders(alice: Account, film: str, farm: Farm):
    started = time.monotonic()
    result = alice.ok("render", "submit", film, *FAST)
    job_id = result.stdout.strip()
    assert time.monotonic() - started < 5  # no render happened in this process
    assert status(alice, job_id)["status"] == "queued"
    assert status(alice, job_id)["dispatch_pending"] is False
    farm.start_worker("w1")
    watched = alice("jobs", "watch", job_id, "--interval", "0.2", "--timeout", "120")
    assert watched.exit_code == 0, (watched.stdout, watched.stderr, farm.logs())
    assert " completed 100 %" in watched.stdout
    job = status(alice, job_id)
    assert job["worker_name"] == "w1" and job["attempts"] == 1
    assert Path(job["output_path"]).exists() and job["output_size"] > 0


def test_rendercli_worker_and_submit_wait_output(alice: Account, film: str, farm: Farm,
                                                 tmp_path: Path) -> None:
    farm.start_worker("w2", via="rendercli")
    out = tmp_path / "film.webm"
    result = alice("render", "submit", film, *FAST, "--format", "webm", "--wait",
                   "--output", str(out), "--json")
    assert result.exit_code == 0, (result.stderr, farm.logs())
    job = json.loads(result.stdout)
    assert job["status"] == "completed" and job["worker_name"] == "w2"
    assert out.read_bytes()[:4] == b"\x1a\x45\xdf\xa3"  # EBML: a WebM file


def test_output_without_wait_is_refused_in_farm_mode(alice: Account, film: str, farm: Farm):
    result = alice("render", "submit", film, "--output", "x.mp4")
    assert result.exit_code == 2 and "--wait" in result.stderr


def test_cancel_while_queued(alice: Account, film: str, farm: Farm, tmp_path: Path) -> None:
    from rq import Queue

    from rendercli.services.renders.dispatch import redis_connection, render_queue

    job_id = alice.ok("render", "submit", film, *FAST).stdout.strip()
    queue: Queue = render_queue(redis_connection(read_settings().redis_url))
    assert job_id in queue.job_ids
    alice.ok("jobs", "cancel", job_id)
    assert job_id not in queue.job_ids
    worker = farm.start_worker("w3", burst=True)
    assert worker.wait(60) == 0
    assert status(alice, job_id)["status"] == "cancelled"
    assert outputs(tmp_path, job_id) == []


def test_cancel_while_processing_stops_ffmpeg(alice: Account, long_film: str, farm: Farm,
                                             tmp_path: Path) -> None:
    farm.start_worker("w4")
    job_id = alice.ok("render", "submit", long_film, *SLOW).stdout.strip()
    wait_for(processing(alice, job_id), 60, "the render to make progress")
    marker = str(tmp_path / "data" / "storage")
    assert processes_with(marker), "ffmpeg should be running for this job"
    cancelled_at = time.monotonic()
    alice.ok("jobs", "cancel", job_id)
    survivors = wait_until_gone(marker, 5.0)
    assert survivors == [], f"ffmpeg still running {time.monotonic() - cancelled_at:.1f}s later"
    job = status(alice, job_id)
    assert job["status"] == "cancelled" and job["output_url"] is None
    wait_for(lambda: "cancelled or reassigned" in alice.ok("jobs", "logs", job_id).stdout,
             10, "the worker to note the cancellation")
    assert outputs(tmp_path, job_id) == []


def test_sigkilled_worker_is_recovered_and_renders_once(
    alice: Account, long_film: str, farm: Farm, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("RENDERCLI_HEARTBEAT_INTERVAL", "0.5")
    monkeypatch.setenv("RENDERCLI_HEARTBEAT_TIMEOUT", "3")
    doomed = farm.start_worker("doomed")
    job_id = alice.ok("render", "submit", long_film, *SLOW).stdout.strip()
    wait_for(processing(alice, job_id), 60, "the first attempt to make progress")
    marker = str(tmp_path / "data" / "storage")
    farm.kill(doomed)  # the machine dies: worker, work horse and ffmpeg
    assert wait_until_gone(marker, 5.0) == []
    assert status(alice, job_id)["status"] == "processing"  # nobody knows yet
    farm.start_worker("survivor")
    # Any rendercli command notices the stale heartbeat and hands the job back.

    def recovered() -> bool:
        alice.ok("jobs", "list")  # a jobs command: runs the stale-job recovery
        return status(alice, job_id)["worker_name"] == "survivor"

    wait_for(recovered, 30, "recovery by another worker")
    watched = alice("jobs", "watch", job_id, "--interval", "0.3", "--timeout", "180")
    assert watched.exit_code == 0, farm.logs()
    job = status(alice, job_id)
    assert job["status"] == "completed" and job["attempts"] == 2
    assert job["worker_name"] == "survivor"
    assert [p.name for p in outputs(tmp_path, job_id)] == [f"{job_id}.jpg", f"{job_id}.mp4"]
    assert "attempt 1 lost: worker doomed stopped heartbeating" in alice.ok(
        "jobs", "logs", job_id).stdout


def test_redis_down_at_submit_is_dispatched_later(alice: Account, film: str, farm: Farm,
                                                  database_url: str) -> None:
    if farm.redis.external:
        pytest.skip("needs a Redis the tests can stop")
    farm.redis.stop()
    result = alice("render", "submit", film, *FAST, "--json")
    assert result.exit_code == 0, result.stderr
    assert "dispatch is pending" in result.stderr and "Redis" in result.stderr
    job = json.loads(result.stdout)
    assert job["status"] == "queued" and job["dispatch_pending"] is True
    farm.redis.start()
    farm.start_worker("w5")
    # The worker's first sweep dispatches it (a command only dispatches rows older than
    # upkeep.DISPATCH_GRACE: tests/test_upkeep_bounded.py); commands meanwhile must not
    # duplicate anything.
    alice.ok("jobs", "list")
    alice.ok("jobs", "list")
    watched = alice("jobs", "watch", job["id"], "--interval", "0.2", "--timeout", "120")
    assert watched.exit_code == 0, farm.logs()
    listed = json.loads(alice.ok("jobs", "list", "--json").stdout)
    assert [j["id"] for j in listed] == [job["id"]]
    assert status(alice, job["id"])["attempts"] == 1


def test_postgres_restart_mid_render(alice: Account, long_film: str, farm: Farm,
                                     postgres: PostgresServer) -> None:
    if postgres._owned is None:
        pytest.skip("needs a PostgreSQL the tests can restart")
    farm.start_worker("w6")
    job_id = alice.ok("render", "submit", long_film, *SLOW).stdout.strip()
    wait_for(processing(alice, job_id), 60, "the render to start")
    postgres.restart()
    watched = alice("jobs", "watch", job_id, "--interval", "0.3", "--timeout", "180")
    assert watched.exit_code == 0, (watched.stdout, farm.logs())
    job = status(alice, job_id)
    assert job["status"] == "completed" and job["attempts"] == 1


def test_bad_input_is_never_retried(alice: Account, film: str, farm: Farm,
                                    tmp_path: Path) -> None:
    storage = tmp_path / "data" / "storage" / "objects"
    victim = max((p for p in storage.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    victim.chmod(0o644)
    victim.write_bytes(victim.read_bytes()[:1000])
    farm.start_worker("w7")
    job_id = alice.ok("render", "submit", film, *FAST).stdout.strip()
    watched = alice("jobs", "watch", job_id, "--interval", "0.2", "--timeout", "120")
    assert watched.exit_code == 1
    job = status(alice, job_id)
    assert job["status"] == "failed" and job["attempts"] == 1 and job["error"]


def test_an_idle_worker_sweeps_up_a_dead_workers_job(
    alice: Account, long_film: str, farm: Farm, tmp_path: Path, monkeypatch
) -> None:
    """No rendercli command runs here: the surviving worker's own sweep recovers the job."""
    monkeypatch.setenv("RENDERCLI_HEARTBEAT_INTERVAL", "0.5")
    monkeypatch.setenv("RENDERCLI_HEARTBEAT_TIMEOUT", "3")
    monkeypatch.setenv("RENDERCLI_WORKER_SWEEP_INTERVAL", "2")
    doomed = farm.start_worker("doomed2")
    job_id = alice.ok("render", "submit", long_film, *SLOW).stdout.strip()
    wait_for(processing(alice, job_id), 60, "the first attempt to make progress")
    farm.kill(doomed)
    farm.start_worker("sweeper")

    from rendercli.services.renders import views
    from rendercli.services.unit_of_work import UnitOfWork

    user_id = json.loads(alice.ok("whoami", "--json").stdout)["id"]
    # Read the row through the service directly: no CLI command, so no CLI maintenance.
    as_alice = UnitOfWork(token=alice.token)
    wait_for(lambda: views.get(as_alice, user_id, job_id).worker_name == "sweeper",
             60, "the idle worker's sweep to re-queue and take the job", interval=0.5)
    assert views.get(UnitOfWork(token=alice.token), user_id, job_id).attempts == 2
    alice.ok("jobs", "cancel", job_id)  # no need to finish the slow render


class _PickleBomb:
    """Runs a shell command the moment it is unpickled."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):  # type: ignore[no-untyped-def]
        import os

        return (os.system, (self.command,))


def _enqueue_hostile_jobs(canary: Path) -> dict[str, str]:
    """Everything a Redis writer might queue on render-video, each trying to create a
    canary file. Returns {what: RQ job id}."""
    import pickle
    import zlib

    from rq import Callback, Queue
    from rq.serializers import JSONSerializer

    from rendercli.db.ids import new_id
    from rendercli.services.renders.dispatch import redis_connection

    conn = redis_connection(read_settings().redis_url)
    json_queue = Queue("render-video", connection=conn, serializer=JSONSerializer)
    pickle_queue = Queue("render-video", connection=conn)  # RQ's default: pickle
    jobs = {
        "os.system": json_queue.enqueue("os.system", f"touch {canary}-system"),
        "subprocess.run": json_queue.enqueue("subprocess.run", ["touch", f"{canary}-run"]),
        "builtins.exec": json_queue.enqueue(
            "builtins.exec", f"open({str(canary) + '-exec'!r}, 'w').close()"),
        "pickled call": pickle_queue.enqueue("os.system", f"touch {canary}-pickled"),
        "render, bad id": json_queue.enqueue("rendercli.worker.render", "../../etc/passwd"),
        "render, callback": json_queue.enqueue(
            "rendercli.worker.render", (real := new_id()), job_id=real,
            on_failure=Callback("os.system"), on_success=Callback("os.system")),
    }
    ids = {what: job.id for what, job in jobs.items()}
    # A raw pickle that runs code as it is loaded, written straight into a job's data.
    bomb = json_queue.enqueue("rendercli.worker.render", new_id())
    conn.hset(bomb.key, "data", zlib.compress(pickle.dumps(_PickleBomb(f"touch {canary}-bomb"))))
    ids["pickle bomb"] = bomb.id
    # A job hash RQ itself cannot read (it used to stop the worker altogether).
    conn.hset("rq:job:unreadable", mapping={"data": b"x", "created_at": "not a date"})
    conn.rpush("rq:queue:render-video", "unreadable")
    return ids


@pytest.mark.parametrize("via", ["rq-default-serializer", "rendercli"])
def test_worker_runs_nothing_but_rendercli_jobs(alice: Account, film: str, farm: Farm,
                                               tmp_path: Path, via: str) -> None:
    """A Redis writer queues os.system, subprocess.run, exec and pickles: the worker fails
    each RQ job with a reason, runs none of them, and renders the next real job."""
    from rq.job import Job, JobStatus
    from rq.serializers import JSONSerializer

    from rendercli.services.renders.dispatch import redis_connection

    canary = tmp_path / "canary"
    hostile = _enqueue_hostile_jobs(canary)
    if via == "rendercli":
        worker = farm.start_worker("guard", via="rendercli")
    else:  # `rq worker -w RenderWorker` without -S: RQ would pick pickle
        worker = farm.start_worker("guard", serializer=None)
    job_id = alice.ok("render", "submit", film, *FAST).stdout.strip()  # queued behind them
    watched = alice("jobs", "watch", job_id, "--interval", "0.2", "--timeout", "120")
    assert watched.exit_code == 0, (watched.stdout, farm.logs())
    assert status(alice, job_id)["worker_name"] == "guard"
    assert worker.poll() is None, farm.logs()  # still serving

    assert sorted(p.name for p in tmp_path.glob("canary*")) == []
    conn = redis_connection(read_settings().redis_url)
    for what, rq_id in hostile.items():
        job = Job.fetch(rq_id, connection=conn, serializer=JSONSerializer)
        assert job.get_status() == JobStatus.FAILED, what
        reason = job.latest_result().exc_string
        assert reason.startswith("refused by rendercli's render worker: "), (what, reason)
    assert "os.system" in Job.fetch(hostile["os.system"], connection=conn,
                                    serializer=JSONSerializer).latest_result().exc_string
    logs = farm.logs()
    refusals = [line for line in logs.splitlines() if "refused RQ job" in line]
    assert len(refusals) == len(hostile) + 1, logs  # one line each, the unreadable one too
    assert any("unreadable" in line for line in refusals), refusals
    assert conn.lrange("rq:queue:render-video", 0, -1) == []
    assert conn.lrange("rq:queue:render-video:intermediate", 0, -1) == []
