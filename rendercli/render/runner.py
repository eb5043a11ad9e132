"""The one place that starts ffmpeg: a child process with drained pipes and parsed progress.

Children stay in the caller's process group (a worker's stop signal reaches them too)
and are always reaped: ``stop()`` terminates, then kills.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import IO

from rendercli.config import get_settings
from rendercli.render import parent_death
from rendercli.render.errors import RenderFailed, RenderTimedOut

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
# Wrappers ffmpeg prints after the real cause; used only when a cause precedes them.
_GENERIC = (
    "error binding filtergraph inputs/outputs",
    "error opening output file",
    "error opening output files",
    "error initializing",
    "error while filtering",
    "nothing was written into output file",
)
# Warnings ffmpeg prints on every run of some inputs that say nothing about this render
# (a JPEG's full-range pixel format is converted correctly by the graph's format filter).
KNOWN_NOISE = (
    re.compile(r"deprecated pixel format used, make sure you did set range correctly"),
    re.compile(r"^\s*Last message repeated \d+ times?\s*$"),
)
# Lines that name the cause itself (an unknown option, filter or encoder, a bad value);
# ffmpeg prints a generic summary after them ("Option not found", "Invalid argument").
_CAUSES = re.compile(
    r"option '[^']*' not found|error applying option|no such filter|unrecognized option"
    r"|unknown encoder|encoder not found|unknown decoder|invalid value|unable to parse"
    r"|undefined constant|no such file or directory|permission denied|invalid data found"
    r"|not allowed|doesn't support|does not support|matches no streams", re.IGNORECASE)
_ADDRESS = re.compile(r" @ 0x[0-9a-fA-F]+\]")
_GRAPH = re.compile(r" in filtergraph description .* (matches no streams)")


def without_noise(stderr: str) -> str:
    """ffmpeg's stderr without its known noise (KNOWN_NOISE), for logs."""
    return "".join(line for line in stderr.splitlines(keepends=True)
                   if not any(p.search(line) for p in KNOWN_NOISE))


def last_meaningful_line(stderr: str) -> str:
    """The stderr line that says what went wrong, as one short line: the last that names
    a cause (an unknown option, filter or encoder, a bad value, a missing file), else
    the last meaningful one."""
    lines = [line.strip() for line in without_noise(stderr).splitlines()]
    lines = [line for line in lines if line and not line.lower().startswith(_BOILERPLATE)]
    if not lines:
        return "ffmpeg failed without a message"
    causes = [line for line in lines if _CAUSES.search(line)]
    chosen = causes[-1] if causes else lines[-1]
    if not causes and chosen.lower().startswith(_GENERIC):
        chosen = next((line for line in reversed(lines)
                       if not line.lower().startswith(_GENERIC)), chosen)
    chosen = _GRAPH.sub(r" \1", _ADDRESS.sub("]", chosen))
    return chosen if len(chosen) <= 300 else chosen[:297] + "..."


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
        self.frames_written: int | None = None  # last "frame=" progress report
        self._exited = exited
        self._stderr: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._threads: list[threading.Thread] = []

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        """Start ffmpeg (never through a shell) and the threads draining its pipes."""
        # Same process group as the caller (a worker's stop reaches it), and killed by
        # the kernel if the caller dies without cleaning up (SIGKILL, OOM killer).
        # No preexec_fn: other threads run here, and Python code in a forked child can
        # deadlock on a lock one of them held. The wrapper sets the signal after exec.
        self._proc = subprocess.Popen(
            parent_death.wrap(self.argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
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

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for ffmpeg to exit (then `poll` tells how)."""
        assert self._proc is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=timeout)

    def terminate(self) -> None:
        """Ask ffmpeg to stop (SIGTERM) without waiting."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()

    def stop(self, grace: float | None = None) -> None:
        """Terminate ffmpeg if it is running, kill it if it lingers (after ``grace``
        seconds, RENDERCLI_FFMPEG_STOP_GRACE by default), and reap it."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=get_settings().ffmpeg_stop_grace if grace is None else grace)
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
                    if key == "frame":
                        self.frames_written = int(value)
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


def stop_all(processes: Sequence[FfmpegProcess], grace: float | None = None) -> None:
    """Stop several ffmpegs: SIGTERM them all at once, then kill any still alive after
    ``grace`` seconds in total (RENDERCLI_FFMPEG_STOP_GRACE by default), and reap them all."""
    if not processes:
        return
    for proc in processes:
        proc.terminate()
    deadline = time.monotonic() + (get_settings().ffmpeg_stop_grace if grace is None else grace)
    for proc in processes:
        proc.stop(grace=max(0.0, deadline - time.monotonic()))


def run(argv: Sequence[str], *, timeout: float = 300.0) -> str:
    """Run one short ffmpeg command to completion; ffmpeg is stopped on any exit path.
    Returns its stderr.

    Raises RenderFailed with the last meaningful stderr line if ffmpeg fails.
    """
    closing = threading.Event()  # set as ffmpeg closes a pipe: it is exiting
    process = FfmpegProcess(argv, exited=closing)
    deadline = time.monotonic() + timeout
    try:
        process.start()
        while (code := process.poll()) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RenderTimedOut(timeout)
            # Wake when ffmpeg exits rather than on a fixed tick (a frame takes ~0.1 s).
            if closing.is_set():
                process.wait(min(remaining, 0.05))
            else:
                closing.wait(min(remaining, 0.5))
        if code != 0:
            raise RenderFailed(last_meaningful_line(process.stderr), process.stderr)
    finally:
        process.stop()
    return process.stderr


def capture(argv: Sequence[str], *, timeout: float = 15.0) -> str:
    """Run a quick informational ffmpeg command (``-version``, ``-encoders``); its stdout."""
    proc = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        from rendercli.render.errors import RenderFailed

        stderr = proc.stderr.decode(errors="replace")
        raise RenderFailed(last_meaningful_line(stderr), stderr)
    return proc.stdout.decode(errors="replace")
