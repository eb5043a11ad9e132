"""Benchmark `rendercli render batch`: rows that differ only in one title.

The spec is a title card with the row's name, then three 5 s clips and a still with
motion, with fades between them, and music under it all, rendered at 480p. Each run is a
whole `rendercli render batch` process on the embedded default (inline renders):

- **batch**: N rows, segment cache on: the shared clips, still and transitions are
  encoded once, and each row encodes its own title (and the transition out of it);
- **independent**: the same N rows with --no-cache, in a separate data directory: every
  row encodes everything, as N separate renders would.

Prints both times and their ratio (the issue's target: at most 0.25).

Run: .venv/bin/python bench/bench_batch.py [--rows 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.media_factory import make_audio, make_image, make_video

SPEC = """\
version: 1
output: {preset: 480p, fps: 30}
timeline:
  - title: "Hello {{ name }}"
    duration: 2
    transition: fade:0.5
  - media: a.mp4
    transition: fade:0.5
  - media: b.mp4
    transition: fade:0.5
  - media: c.mp4
    transition: fade:0.5
  - media: photo.png
    duration: 3
    motion: zoom-in
music:
  - media: song.mp3
    duck: true
"""
CLI = [sys.executable, "-m", "rendercli"]


def fresh_env(data: Path) -> dict[str, str]:
    """An embedded default in ``data`` with a logged-in account."""
    env = {**os.environ, "RENDERCLI_DATA_DIR": str(data / "data"),
           "RENDERCLI_CONFIG_DIR": str(data / "config"), "RENDERCLI_BCRYPT_ROUNDS": "4",
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    for name in ("RENDERCLI_DATABASE_URL", "RENDERCLI_REDIS_URL", "RENDERCLI_TOKEN",
                 "RENDERCLI_STORAGE_DIR"):
        env.pop(name, None)
    for command in ("register", "login"):
        extra = ["--insecure-storage"] if command == "login" else []
        subprocess.run([*CLI, command, "--email", "bench@example.com", "--password-stdin",
                        *extra], input="bench password\n", env=env, check=True,
                       capture_output=True, text=True)
    return env


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-batch-"))
    try:
        for name, tone in (("a", 440), ("b", 550), ("c", 660)):
            make_video(work / f"{name}.mp4", duration=5.0, size=(640, 360), tone=tone)
        make_image(work / "photo.png", size=(640, 480))
        make_audio(work / "song.mp3", duration=20.0)
        (work / "video.yaml").write_text(SPEC, encoding="utf-8")
        (work / "rows.csv").write_text(
            "name\n" + "".join(f"Person {i}\n" for i in range(args.rows)), encoding="utf-8")
        times = {}
        # Each run has its own data directory (storage and cache): --no-cache does not
        # read the cache but still fills it, and the batch must start from nothing too.
        for label, extra in (("independent", ["--no-cache"]), ("batch", [])):
            env = fresh_env(work / label)
            start = time.perf_counter()
            done = subprocess.run([*CLI, "render", "batch", str(work / "video.yaml"), "--data",
                                   str(work / "rows.csv"), "--name-field", "name", *extra],
                                  env=env, capture_output=True, text=True)
            times[label] = time.perf_counter() - start
            if done.returncode != 0:
                raise SystemExit(f"{label} failed: {done.stderr[-2000:]}")
            print(f"{label}: {args.rows} rows in {times[label]:.1f} s "
                  f"({times[label] / args.rows:.2f} s per row)", flush=True)
        print(f"batch / independent: {times['batch'] / times['independent']:.2f}x "
              f"(target <= 0.25x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
