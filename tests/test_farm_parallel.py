"""One render split over many workers: real Redis, PostgreSQL, `rendercli worker`
processes and ffmpeg. The segments, soundtrack and assemble of a render are tasks any
idle worker takes; the database rows are the truth."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rendercli.config import read_settings
from rendercli.media.ffmpeg_binary import ffmpeg_path
from rendercli.services.unit_of_work import UnitOfWork
from tests.conftest import Account
from tests.farm import Farm, wait_for
from tests.media_factory import make_image, make_video
from tests.processes import processes_with, wait_until_gone

pytestmark = [pytest.mark.slow,
              pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]

FAST = ["--preset", "480p", "--fps", "25", "--quality", "draft"]
SLOW = ["--preset", "720p", "--fps", "30", "--quality", "high", "--no-cache"]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("parallel-media")
    return {
        "a": make_video(d / "a.mp4", duration=1.0, tone=330),
        "b": make_video(d / "b.mp4", duration=1.0, tone=550, pattern="testsrc"),
        "still": make_image(d / "still.png"),
        # 4 s at 25 fps: cut into 1-second chunks with RENDERCLI_CHUNK_SECONDS=1
        "long": make_video(d / "long.mp4", duration=4.0, size=(320, 240)),
        "slow": make_video(d / "slow.mp4", duration=12.0, size=(640, 360), fps=30),
    }


def status(account: Account, job_id: str) -> dict:
    return json.loads(account.ok("jobs", "status", job_id, "--json").stdout)


def job_tasks(account: Account, job_id: str) -> list[dict]:
    return json.loads(account.ok("jobs", "logs", job_id, "--json").stdout)["tasks"]


def start_workers(farm: Farm, *names: str) -> list:
    """Start workers and wait until RQ lists them all on the queue (so the job splits)."""
    from rq import Worker

    from rendercli.services.renders.dispatch import redis_connection, render_queue

    procs = [farm.start_worker(n, via="rendercli") for n in names]
    conn = redis_connection(read_settings().redis_url)
    wait_for(lambda: Worker.count(connection=conn, queue=render_queue(conn)) >= len(names),
             60, f"{len(names)} workers to register")
    return procs


def probe(path: Path) -> tuple[int, float]:
    """(decoded video frames, container duration) of a render."""
    out = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-i", str(path), "-map", "0:v", "-f", "null", "-"],
        capture_output=True, text=True, check=True).stderr
    frames = int(out.rsplit("frame=", 1)[1].split()[0])
    duration = out.split("Duration: ", 1)[1].split(",", 1)[0]
    h, m, s = duration.split(":")
    return frames, int(h) * 3600 + int(m) * 60 + float(s)


def video_stream_sha(path: Path) -> str:
    """SHA-256 of the video stream's packets (the container's own bytes left out)."""
    raw = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:v",
         "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264", "-"],
        capture_output=True, check=True).stdout
    assert len(raw) > 1000
    return hashlib.sha256(raw).hexdigest()


def inline_render(account: Account, project: str, settings: list[str], tmp_path: Path,
                  chunk_seconds: float) -> Path:
    """The same project rendered in one process, with its own empty cache."""

    from rendercli.render.engine import render_timeline
    from rendercli.services.renders.submit import RenderRequest, engine_settings
    from rendercli.services.renders.timeline import timeline_items
    from rendercli.services.unit_of_work import UnitOfWork

    opts = dict(zip(settings[::2], settings[1::2], strict=True))
    request = RenderRequest(preset=opts["--preset"], fps=int(opts["--fps"]),
                            quality=opts["--quality"])
    from rendercli.repositories.items import read_items

    with UnitOfWork(token=account.token) as uow:
        project_id = uow.rows.scalar("SELECT id FROM projects WHERE name = :n", n=project)
        items = timeline_items(read_items(uow.rows, project_id), uow.settings)
    result = render_timeline(items, engine_settings(request), storage_dir=tmp_path / "inline",
                             chunk_seconds=chunk_seconds)
    return result.path


def test_a_render_split_over_three_workers_is_exact(alice: Account, media, farm: Farm,
                                                   tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RENDERCLI_CHUNK_SECONDS", "1")
    alice.ok("project", "create", "split")
    alice.ok("asset", "add", "split", str(media["a"]), str(media["long"]), str(media["still"]),
             str(media["b"]), "--duration", "1")
    start_workers(farm, "p1", "p2", "p3")
    job_id = alice.ok("render", "submit", "split", *FAST).stdout.strip()
    watched = alice("jobs", "watch", job_id, "--interval", "0.2", "--timeout", "180")
    assert watched.exit_code == 0, (watched.stdout, farm.logs())
    assert " completed 100 % tasks 9/9 on p" in watched.stdout
    job = status(alice, job_id)
    tasks = job_tasks(alice, job_id)
    # a, four 1-second chunks of long, the still, b; the soundtrack; the assemble
    assert [t["label"] for t in tasks] == [
        "segment 1", "segment 2.1", "segment 2.2", "segment 2.3", "segment 2.4",
        "segment 3", "segment 4", "soundtrack", "assemble"]
    assert all(t["state"] == "completed" and t["attempts"] == 1 for t in tasks)
    assert all(t["command"].startswith("$ ") for t in tasks)
    assert job["tasks_done"] == job["tasks_total"] == 9
    assert len(job["workers"]) >= 2 and set(job["workers"]) <= {"p1", "p2", "p3"}
    farm_out = Path(job["output_path"])
    inline_out = inline_render(alice, "split", FAST, tmp_path, chunk_seconds=1)
    frames, duration = probe(farm_out)
    assert frames == 25 * 7 and (frames, duration) == probe(inline_out)
    # Same settings, one encoder thread per segment: the same video stream, byte for byte.
    assert video_stream_sha(farm_out) == video_stream_sha(inline_out)
    logs = alice.ok("jobs", "logs", job_id).stdout
    assert "task segment 2.3: completed, worker p" in logs and "task assemble:" in logs
    assert "split into 9 tasks" in logs
    shown = alice.ok("jobs", "status", job_id).stdout
    assert "tasks:" in shown and "9/9 on p" in shown

    # A second render of the same project reuses every segment: no task is created.
    again = alice.ok("render", "submit", "split", *FAST, "--quality", "draft").stdout.strip()
    assert alice("jobs", "watch", again, "--timeout", "120").exit_code == 0
    assert status(alice, again)["cache_hit"] is True and job_tasks(alice, again) == []


def test_a_worker_killed_mid_task_costs_only_that_task(alice: Account, media, farm: Farm,
                                                       tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RENDERCLI_CHUNK_SECONDS", "3")
    monkeypatch.setenv("RENDERCLI_HEARTBEAT_INTERVAL", "0.5")
    monkeypatch.setenv("RENDERCLI_HEARTBEAT_TIMEOUT", "3")
    alice.ok("project", "create", "slow")
    alice.ok("asset", "add", "slow", str(media["slow"]))
    doomed, _survivor = start_workers(farm, "doomed", "survivor")
    job_id = alice.ok("render", "submit", "slow", *SLOW).stdout.strip()

    def doomed_is_encoding() -> dict | None:
        return next((t for t in job_tasks(alice, job_id) if t["worker_name"] == "doomed"
                     and t["state"] == "processing" and t["progress"] > 0), None)

    victim = wait_for(doomed_is_encoding, 90, "the doomed worker to be mid-task")
    farm.kill(doomed)  # the machine dies: worker, work horse and ffmpeg
    before = {t["id"]: t for t in job_tasks(alice, job_id)}

    def recovered() -> bool:
        alice.ok("jobs", "list")  # a jobs command: runs the stale recovery and dispatch
        task = next(t for t in job_tasks(alice, job_id) if t["id"] == victim["id"])
        return task["attempts"] == 2

    try:
        wait_for(recovered, 90, "the killed task to be handed to the survivor", interval=0.5)
    except AssertionError:
        raise AssertionError((job_tasks(alice, job_id), farm.logs())) from None
    watched = alice("jobs", "watch", job_id, "--interval", "0.3", "--timeout", "300")
    assert watched.exit_code == 0, (watched.stdout, farm.logs())
    after = job_tasks(alice, job_id)
    redone = [t for t in after if t["attempts"] != 1]
    assert [t["id"] for t in redone] == [victim["id"]]
    assert redone[0]["worker_name"] == "survivor" and redone[0]["state"] == "completed"
    # What was finished before the kill was never redone.
    for task in after:
        if before[task["id"]]["state"] == "completed":
            assert task["attempts"] == 1 and task["worker_name"] == before[task["id"]][
                "worker_name"]
    frames, _duration = probe(Path(status(alice, job_id)["output_path"]))
    assert frames == 12 * 30
    assert f"{victim['label']} attempt 1 lost: worker doomed stopped heartbeating" in alice.ok(
        "jobs", "logs", job_id).stdout


def _leaving_mid_task(alice: Account, media, farm: Farm, project: str
                      ) -> tuple[subprocess.Popen[bytes], str, dict]:
    """Workers "leaving" and "staying" render the slow clip; returns the leaving
    worker's process, the job id and the segment task it is encoding (with progress)."""
    alice.ok("project", "create", project)
    alice.ok("asset", "add", project, str(media["slow"]))
    leaving, _staying = start_workers(farm, "leaving", "staying")
    job_id = alice.ok("render", "submit", project, *SLOW).stdout.strip()

    def mid_task() -> dict | None:
        return next((t for t in job_tasks(alice, job_id) if t["worker_name"] == "leaving"
                     and t["kind"] == "segment" and t["state"] == "processing"
                     and t["progress"] > 0), None)

    victim = wait_for(mid_task, 90, "the leaving worker to be mid-task")
    return leaving, job_id, victim  # type: ignore[return-value]


def test_a_worker_stopped_with_sigterm_finishes_its_task_and_takes_no_other(
        alice: Account, media, farm: Farm, monkeypatch) -> None:
    """A warm shutdown (SIGTERM to the worker, what `docker stop` sends): the task it is
    running is finished, not redone; the worker takes no other and exits, and the other
    worker completes the job."""
    monkeypatch.setenv("RENDERCLI_CHUNK_SECONDS", "2")
    leaving, job_id, victim = _leaving_mid_task(alice, media, farm, "warm")
    os.kill(leaving.pid, signal.SIGTERM)
    held = {t["id"] for t in job_tasks(alice, job_id) if t["worker_name"] == "leaving"}
    assert victim["id"] in held
    assert leaving.wait(120) == 0, farm.logs()
    watched = alice("jobs", "watch", job_id, "--interval", "0.3", "--timeout", "300")
    assert watched.exit_code == 0, (watched.stdout, farm.logs())
    after = job_tasks(alice, job_id)
    assert all(t["state"] == "completed" and t["attempts"] == 1 for t in after)
    assert {t["id"] for t in after if t["worker_name"] == "leaving"} == held
    assert next(t for t in after if t["id"] == victim["id"])["worker_name"] == "leaving"
    assert probe(Path(status(alice, job_id)["output_path"]))[0] == 12 * 30


def test_a_worker_stopped_cold_hands_its_task_back_at_once(
        alice: Account, media, farm: Farm, monkeypatch) -> None:
    """A cold shutdown (a second SIGTERM): RQ kills the work horse and its ffmpeg, and
    the worker hands the task back before it exits, so another worker redoes just that
    task now. Neither the heartbeat recovery nor an idle worker's sweep could have: the
    timeout and the sweep interval are ten minutes here."""
    monkeypatch.setenv("RENDERCLI_CHUNK_SECONDS", "4")  # long enough to be mid-task
    monkeypatch.setenv("RENDERCLI_HEARTBEAT_TIMEOUT", "600")
    monkeypatch.setenv("RENDERCLI_WORKER_SWEEP_INTERVAL", "600")
    leaving, job_id, victim = _leaving_mid_task(alice, media, farm, "cold")
    os.kill(leaving.pid, signal.SIGTERM)
    wait_for(lambda: "warm shut down requested" in farm.logs(), 30, "the warm shutdown")
    # RQ ignores a second signal that comes within a second of the first.
    time.sleep(1.2)
    before = {t["id"]: t for t in job_tasks(alice, job_id)}
    assert before[victim["id"]]["state"] == "processing", "the task ended too soon"
    os.kill(leaving.pid, signal.SIGTERM)
    leaving.wait(30)
    marker = str(Path(os.environ["RENDERCLI_DATA_DIR"]) / "storage")
    watched = alice("jobs", "watch", job_id, "--interval", "0.3", "--timeout", "300")
    assert watched.exit_code == 0, (watched.stdout, farm.logs())
    after = job_tasks(alice, job_id)
    redone = [t for t in after if t["attempts"] != 1]
    assert [t["id"] for t in redone] == [victim["id"]], (after, farm.logs())
    assert redone[0]["worker_name"] == "staying" and redone[0]["attempts"] == 2
    assert f"{victim['label']} attempt 1 handed back: worker leaving stopped" in alice.ok(
        "jobs", "logs", job_id).stdout
    for task in after:
        if before[task["id"]]["state"] == "completed":
            assert task["attempts"] == 1
    assert probe(Path(status(alice, job_id)["output_path"]))[0] == 12 * 30
    assert processes_with(marker) == []


def test_cancel_during_the_fan_out_stops_every_worker(alice: Account, media, farm: Farm,
                                                      tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RENDERCLI_CHUNK_SECONDS", "2")
    alice.ok("project", "create", "cancelled")
    alice.ok("asset", "add", "cancelled", str(media["slow"]))
    start_workers(farm, "c1", "c2")
    job_id = alice.ok("render", "submit", "cancelled", *SLOW).stdout.strip()
    marker = str(tmp_path / "data" / "storage")

    def two_encoding() -> bool:
        busy = {t["worker_name"] for t in job_tasks(alice, job_id)
                if t["state"] == "processing" and t["kind"] == "segment"}
        return len(busy) == 2 and len(processes_with(marker)) >= 2

    wait_for(two_encoding, 90, "both workers to be encoding")
    # The job's progress is its tasks' progress, weighted by cost.
    wait_for(lambda: 0 < status(alice, job_id)["progress"] < 100, 60, "overall progress")
    alice.ok("jobs", "cancel", job_id)
    assert wait_until_gone(marker, 5.0) == [], "ffmpeg still running 5 s after cancel"
    job = status(alice, job_id)
    assert job["status"] == "cancelled" and job["output_url"] is None
    states = {t["state"] for t in job_tasks(alice, job_id)}
    assert states <= {"cancelled", "completed"} and "cancelled" in states
    assert sorted((tmp_path / "data" / "storage" / "renders").glob(f"{job_id}*")) == []


def test_a_failing_segment_fails_the_job_once_and_cancels_its_siblings(
        alice: Account, media, farm: Farm, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RENDERCLI_CHUNK_SECONDS", "2")
    alice.ok("project", "create", "broken")
    alice.ok("asset", "add", "broken", str(media["slow"]), str(media["a"]))
    # The clip is corrupted in storage after it was checked: found out at render time.
    victim = next((tmp_path / "data" / "storage" / "objects").rglob(
        f"{hashlib.sha256(media['a'].read_bytes()).hexdigest()}*"))
    victim.chmod(0o644)
    victim.write_bytes(victim.read_bytes()[:3000])
    start_workers(farm, "f1", "f2")
    job_id = alice.ok("render", "submit", "broken", *SLOW).stdout.strip()
    watched = alice("jobs", "watch", job_id, "--interval", "0.2", "--timeout", "180")
    assert watched.exit_code == 1, (watched.stdout, farm.logs())
    job = status(alice, job_id)
    assert job["status"] == "failed" and job["attempts"] == 1 and job["error"]
    tasks = job_tasks(alice, job_id)
    failed = [t for t in tasks if t["state"] == "failed"]
    assert len(failed) == 1 and failed[0]["error"] == job["error"]
    assert all(t["state"] in ("completed", "cancelled") for t in tasks if t not in failed)
    assert next(t for t in tasks if t["kind"] == "assemble")["state"] == "cancelled"
    logs = alice.ok("jobs", "logs", job_id).stdout
    assert logs.count(" failed on worker ") == 1
    assert wait_until_gone(str(tmp_path / "data" / "storage"), 5.0) == []


def worker_sessions() -> str | None:
    """The worker role's database URL on PostgreSQL (only a worker splits a job into
    tasks); None (the default database) on SQLite."""
    import os

    return os.environ.get("RENDERCLI_WORKER_DATABASE_URL")


def _split_job(alice: Account, media, count: int, name: str,
               weights: list[float] | None = None) -> str:
    """A processing job with `count` queued segment tasks (of these weights, else 1 each)
    and an assemble task, as a worker's split leaves it (rows written directly: no render
    is needed here)."""

    from rendercli.services.unit_of_work import UnitOfWork

    alice.ok("project", "create", name)
    alice.ok("asset", "add", name, str(media["a"]))
    job_id = alice.ok("render", "submit", name, *FAST).stdout.strip()
    from rendercli.db.clock import utcnow
    from rendercli.db.ids import new_id
    from rendercli.db.rows import insert

    with UnitOfWork(worker_sessions()) as uow:  # what a worker's claim and split write
        uow.rows.run("UPDATE render_jobs SET status = 'processing', worker_name = 'planner', "
                     "attempts = 1 WHERE id = :id", id=job_id)
        for n in range(count + 1):
            kind = "assemble" if n == count else "segment"
            weight = weights[n] if weights is not None and n < count else 1.0
            insert(uow.rows, "render_tasks", {
                "id": new_id(), "job_id": job_id, "seq": n, "kind": kind,
                "label": f"{kind} {n}", "cache_key": None, "weight": weight,
                "state": "queued", "progress": 0.0, "attempts": 0, "created_at": utcnow()})
        uow.commit()
    return job_id


def test_enqueueing_tasks_takes_the_same_redis_round_trips_for_200_as_for_5(
        alice: Account, media, farm: Farm, monkeypatch) -> None:
    from redis.connection import AbstractConnection
    from rq import Queue
    from rq.job import Job

    from rendercli.services.renders import dispatch

    sent: list[int] = []
    real_send = AbstractConnection.send_packed_command

    def counting_send(self, command, check_health=True):  # type: ignore[no-untyped-def]
        sent.append(1)
        return real_send(self, command, check_health)

    trips = {}
    for count in (5, 200):
        job_id = _split_job(alice, media, count, f"many{count}")
        conn = dispatch.redis_connection(read_settings().redis_url)
        conn.ping()
        monkeypatch.setattr(AbstractConnection, "send_packed_command", counting_send)
        sent.clear()
        assert dispatch.enqueue_tasks(job_id, conn, uow=UnitOfWork(worker_sessions())) is None
        trips[count] = len(sent)
        monkeypatch.setattr(AbstractConnection, "send_packed_command", real_send)
        views = job_tasks(alice, job_id)
        queue: Queue = dispatch.render_queue(conn)
        assert [t["id"] for t in views[:-1]] == queue.job_ids[-count:]
        assemble = Job.fetch(views[-1]["id"], connection=conn)
        assert assemble.get_status() == "deferred"
        assert sorted(assemble.dependency_ids) == sorted(t["id"] for t in views[:-1])
        queue.empty()
    assert trips[200] == trips[5] and trips[5] <= 12, trips


def test_tasks_are_queued_longest_first(alice: Account, media, farm: Farm) -> None:
    """The long tasks start first and the short ones last, so at the end no worker waits
    long for another to finish a long task (equal ones keep timeline order)."""
    from rendercli.services.renders import dispatch

    job_id = _split_job(alice, media, 5, "longest", weights=[1.0, 5.0, 2.5, 5.0, 0.3])
    conn = dispatch.redis_connection(read_settings().redis_url)
    assert dispatch.enqueue_tasks(job_id, conn, uow=UnitOfWork(worker_sessions())) is None
    views = job_tasks(alice, job_id)
    by_seq = [t["id"] for t in views]
    queue = dispatch.render_queue(conn)
    assert queue.job_ids[-5:] == [by_seq[1], by_seq[3], by_seq[2], by_seq[0], by_seq[4]]
    queue.empty()


def test_one_worker_told_to_split_runs_every_task_then_the_assemble(
        alice: Account, media, farm: Farm, monkeypatch) -> None:
    monkeypatch.setenv("RENDERCLI_FARM_SPLIT", "always")
    alice.ok("project", "create", "alone")
    alice.ok("asset", "add", "alone", str(media["a"]), str(media["b"]))
    start_workers(farm, "solo")
    job_id = alice.ok("render", "submit", "alone", *FAST).stdout.strip()
    assert alice("jobs", "watch", job_id, "--timeout", "120").exit_code == 0, farm.logs()
    tasks = job_tasks(alice, job_id)
    assert [t["kind"] for t in tasks] == ["segment", "segment", "soundtrack", "assemble"]
    assert {t["worker_name"] for t in tasks} == {"solo"}
    # RQ released the assemble task only after every other task had finished.
    assemble = tasks[-1]
    assert all(t["finished_at"] <= assemble["started_at"] for t in tasks[:-1])
    assert probe(Path(status(alice, job_id)["output_path"]))[0] == 50
