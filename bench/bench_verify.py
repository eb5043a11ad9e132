"""Benchmark the check of stored inputs (rendercli/render/verify.py): what a render pays
to know each object it reads still hashes to its key.

A random file of --mib MiB (in the page cache) is checked once with an empty memo (it
is hashed), then --runs times as a new process would (a fresh memo object over the same
SQLite file: stat, one lookup, and the after-check). Prints both and the load average.

Run: .venv/bin/python bench/bench_verify.py [--mib 512] [--runs 20]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rendercli.media.hash_memo import HashMemo
from rendercli.render.verify import Source, SourceCheck


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    try:
        obj = work / "object"
        digest = hashlib.sha256()
        with open(obj, "wb") as f:
            for _ in range(args.mib):
                chunk = os.urandom(1 << 20)
                digest.update(chunk)
                f.write(chunk)
        source = Source(obj, digest.hexdigest(), "'bench.mp4'")
        memo = work / "memo.sqlite3"
        started = time.perf_counter()
        SourceCheck([source], HashMemo(memo)).before()
        first = time.perf_counter() - started
        again = []
        for _ in range(args.runs):
            started = time.perf_counter()
            check = SourceCheck([source], HashMemo(memo))
            check.before()
            check.after()
            again.append(time.perf_counter() - started)
        print(f"{args.mib} MiB object, first check (hashed): {first:.3f} s "
              f"({args.mib / first:.0f} MiB/s)")
        print(f"unchanged, remembered (new memo over the same file), median of {args.runs}: "
              f"{statistics.median(again) * 1000:.2f} ms")
        print("load average: " + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
