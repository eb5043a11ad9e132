"""The one place that starts ffmpeg: a child process with drained pipes and parsed progress.

Children stay in the caller's process group (a worker's stop signal reaches them too)
and are always reaped: ``stop()`` terminates, then kills.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Sequence
from typing import IO

_BOILERPLATE = (
    "conversion failed",
    "exiting normally",
    "press [q]",
    "[q] command received",
    "frame=",
    "size=",
    "video:",
    "audio:",
)
_ADDRESS = re.compile(r" @ 0x[0-9a-fA-F]+\]")


def last_meaningful_line(stderr: str) -> str:
    """The last stderr line that says what went wrong, as one short line."""
    for raw in reversed(stderr.splitlines()):
        line = raw.strip()
        if not line or line.lower().startswith(_BOILERPLATE):
            continue
        line = _ADDRESS.sub("]", line)
        return line if len(line) <= 300 else line[:297] + "..."
    return "ffmpeg failed without a message"


class FfmpegProcess:
    """One running ffmpeg with ``-progress pipe:1`` on stdout and stderr kept for the log.

    ``fraction`` (0..1) comes from the progress stream: ``frame`` against ``total_frames``
    when given, else ``out_time_us`` against ``total_us``. ``exited`` (if given) is set
    when ffmpeg closes its pipes, so a scheduler can wake up without polling.
    """

    def __init__(self, argv: Sequence[str], *, total_frames: int | None = None,
                 total_us: float | None = None, exited: threading.Event | None = None) -> None:
        self.argv = list(argv)
        self.total_frames = total_frames
        self.total_us = total_us
        self.fraction = 0.0
        self._exited = exited
        self._stderr: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._threads: list[threading.Thread] = []

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        """Start ffmpeg (never through a shell) and the threads draining its pipes."""
        self._proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, close_fds=True,
        )
        assert self._proc.stdout is not None and self._proc.stderr is not None
        for target, pipe in ((self._read_progress, self._proc.stdout),
                             (self._read_stderr, self._proc.stderr)):
            thread = threading.Thread(target=target, args=(pipe,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def poll(self) -> int | None:
        """The exit status once ffmpeg has exited (pipes fully drained), else None."""
        assert self._proc is not None
        code = self._proc.poll()
        if code is None:
            return None
        self._join()
        if code == 0:
            self.fraction = 1.0
        return code

    def stop(self) -> None:
        """Terminate ffmpeg if it is running, kill it if it lingers, and reap it."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._join()

    @property
    def pipes_closed(self) -> bool:
        """True once ffmpeg has closed its output: it is exiting or gone."""
        return bool(self._threads) and not any(t.is_alive() for t in self._threads)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def _join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=5.0)

    def _read_stderr(self, pipe: IO[bytes]) -> None:
        with pipe:
            for raw in iter(pipe.readline, b""):
                self._stderr.append(raw.decode("utf-8", "replace"))
        if self._exited is not None:
            self._exited.set()

    def _read_progress(self, pipe: IO[bytes]) -> None:
        with pipe:
            for raw in iter(pipe.readline, b""):
                key, _, value = raw.decode("ascii", "replace").strip().partition("=")
                try:
                    if key == "frame" and self.total_frames:
                        done = int(value) / self.total_frames
                    elif key == "out_time_us" and self.total_us and not self.total_frames:
                        done = int(value) / self.total_us
                    else:
                        continue
                except ValueError:  # "N/A" before the first frame
                    continue
                self.fraction = max(self.fraction, min(1.0, done))
        if self._exited is not None:
            self._exited.set()
