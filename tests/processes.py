"""Finding processes by what they run (from /proc), to prove none survive."""

from __future__ import annotations

import os
import time
from pathlib import Path


def processes_with(marker: str, *, name: str = "ffmpeg") -> list[int]:
    """PIDs of live (non-zombie) processes whose command line mentions `marker` and whose
    program name contains `name`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if not argv or state == "Z":
            continue
        if name.encode() in Path(os.fsdecode(argv[0])).name.encode() and any(
            marker.encode() in arg for arg in argv
        ):
            found.append(int(entry.name))
    return found


def wait_until_gone(marker: str, timeout: float, *, name: str = "ffmpeg") -> list[int]:
    """Poll until no matching process is left; returns the survivors at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        alive = processes_with(marker, name=name)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)
