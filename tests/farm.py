"""Real RQ worker processes for farm-mode tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.servers import RedisServer


class Farm:
    def __init__(self, redis: RedisServer, log_dir: Path) -> None:
        self.redis = redis
        self.log_dir = log_dir
        self.workers: list[subprocess.Popen[bytes]] = []

    def start_worker(self, name: str, *, burst: bool = False,
                     via: str = "rq", env: dict[str, str] | None = None,
                     serializer: str | None = "rq.serializers.JSONSerializer",
                     ) -> subprocess.Popen[bytes]:
        """Start a worker in its own process group (so a test can kill it like a machine).

        via: "rq" (`rq worker -w rendercli.worker.RenderWorker`), "rendercli"
        (`rendercli worker`) or "plain-rq" (`rq worker` with RQ's own Worker class).
        serializer: the `-S` given to `rq worker`; None gives none (RQ's default, pickle).
        """
        bindir = Path(sys.executable).parent
        if via in ("rq", "plain-rq"):
            argv = [str(bindir / "rq"), "worker", "--url", self.redis.url, "--name", name,
                    "render-video"]
            if via == "rq":
                argv[2:2] = ["-w", "rendercli.worker.RenderWorker"]
            if serializer is not None:
                argv[2:2] = ["-S", serializer]
        else:
            argv = [str(bindir / "rendercli"), "worker", "--name", name]
        if burst:
            argv.append("--burst")
        log = open(self.log_dir / f"worker-{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, start_new_session=True)
        self.workers.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker's whole process group: the worker, its work horse, ffmpeg."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    self.kill(proc)
        self.workers.clear()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.log_dir.glob("worker-*"))


def wait_for(predicate: Callable[[], object], timeout: float, what: str,
             interval: float = 0.1) -> object:
    """Poll `predicate` until it returns something truthy (an event, not a stand-in sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
