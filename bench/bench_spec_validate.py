"""Benchmark `rendercli spec validate --data`: a spec checked against 10,000 data rows.

The spec is the example of issue 12 (a title with a placeholder, a clip, a still with
motion, music) with its media generated here; the rows are a CSV of 10,000 names. Each
run is a whole `rendercli` process, as CI runs it: reading the rows, filling every row's
placeholders and checking them, probing each media file once. Prints the median and p90.

Run: .venv/bin/python bench/bench_spec_validate.py [--rows 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.media_factory import make_audio, make_image, make_video
from tests.test_spec_loader import ISSUE_EXAMPLE


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-spec-"))
    try:
        make_video(work / "intro.mp4", duration=4.0)
        make_image(work / "photo.png")
        make_audio(work / "song.mp3", duration=2.0)
        (work / "video.yaml").write_text(ISSUE_EXAMPLE, encoding="utf-8")
        (work / "rows.csv").write_text(
            "name\r\n" + "".join(f"Person {i}\r\n" for i in range(args.rows)), encoding="utf-8")
        rendercli = str(Path(sys.executable).parent / "rendercli")
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([rendercli, "spec", "validate", "video.yaml", "--data", "rows.csv"],
                           cwd=work, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        times.sort()
        p90 = times[max(0, round(0.9 * len(times)) - 1)]
        print(f"spec validate --data ({args.rows:,} rows), whole process: "
              f"median {statistics.median(times):.2f} s, p90 {p90:.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
