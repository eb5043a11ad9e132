"""Benchmark the README's first screen ("The first minute") as a new user runs it.

Takes the shell block under "## The first minute" from README.md, makes the files it
names (clip.mp4: a 6-second 1080p clip with sound; beach.jpg: a 3000x2000 still) in a
temporary directory, and runs the block's lines there one after another with a fresh
venv and a fresh data directory (no account, nothing configured), as the README says.
Prints each line's time and the whole; the issue's target is under a minute for the
lines before `rendercli demo` (pass --with-demo to run that too).

Run: .venv/bin/python bench/bench_first_minute.py [--with-demo]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.media_factory import make_video  # noqa: E402


def readme_lines() -> list[str]:
    """The commands of the README's first shell block under "The first minute"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The first minute"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README has no shell block under 'The first minute'"
    return [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines()
            if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--with-demo", action="store_true")
    args = parser.parse_args()
    lines = readme_lines()
    if not args.with_demo:
        lines = [line for line in lines if line != "rendercli demo"]
    with tempfile.TemporaryDirectory(prefix="first-minute-") as tmp:
        work = Path(tmp)
        make_video(work / "clip.mp4", duration=6.0, size=(1920, 1080), fps=30)
        subprocess.run([sys.executable, "-c", "import imageio_ffmpeg, subprocess, sys; "
                        "subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), '-v', 'error', "
                        "'-f', 'lavfi', '-i', 'color=c=0x4d908e:size=3000x2000', "
                        "'-frames:v', '1', sys.argv[1]], check=True)",
                        str(work / "beach.jpg")], check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERCLI_")}
        env |= {"RENDERCLI_DATA_DIR": str(work / "data"),
                "RENDERCLI_CONFIG_DIR": str(work / "config"),
                "PATH": f"{work / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"}
        total = 0.0
        for line in lines:
            command = line.replace("-e .", f"-e {ROOT}").replace(
                " && . .venv/bin/activate", "")
            started = time.perf_counter()
            subprocess.run(["bash", "-c", command], cwd=work, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            took = time.perf_counter() - started
            total += took
            print(f"{took:6.1f} s  {line}")
        print(f"{total:6.1f} s  in all ({os.getloadavg()[0]:.1f} load average at the end)")


if __name__ == "__main__":
    main()
