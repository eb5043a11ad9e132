"""Run a small graph of ffmpeg steps, a bounded number at a time, from the caller's thread.

Callbacks (``should_cancel``, progress, ``log``) are only ever called from the thread
that called ``run_steps``, so callers may hand in non-thread-safe ones (a DB session).
"""

from __future__ import annotations

import os
import shlex
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rendercli.render.cache import remove_quietly
from rendercli.render.errors import RenderCancelled, RenderFailed, RenderTimedOut
from rendercli.render.progress import ProgressTracker
from rendercli.render.runner import FfmpegProcess, last_meaningful_line, stop_all, without_noise

if TYPE_CHECKING:
    from rendercli.render.verify import SourceCheck

CANCEL_POLL_INTERVAL = 0.2  # seconds between should_cancel() calls


@dataclass
class Step:
    """One ffmpeg run. Its ``outputs`` (temp, final) are renamed into place on success."""

    name: str
    argv: list[str]
    weight: float
    deps: tuple[str, ...] = ()
    total_frames: int | None = None
    total_us: float | None = None
    outputs: list[tuple[Path, Path]] = field(default_factory=list)
    exact_frames: bool = False  # fail unless exactly total_frames were written
    # Called with ffmpeg's stderr after success (e.g. to read a measurement from it).
    on_success: Callable[[str], None] | None = None
    # Builds argv just before the step starts, from what earlier steps found; None: the
    # step is not needed after all (it counts as done, its outputs already in place).
    prepare: Callable[[], list[str] | None] | None = None
    on_done: Callable[[], None] | None = None  # after the outputs are in place
    # The stored files it reads (render/verify.SourceCheck): checked before it starts and
    # again before its outputs are published.
    sources: SourceCheck | None = None


def _finish(step: Step) -> None:
    for tmp, final in step.outputs:
        os.replace(tmp, final)
    if step.on_done is not None:
        step.on_done()


def run_steps(
    steps: Sequence[Step],
    *,
    jobs: int,
    tracker: ProgressTracker,
    should_cancel: Callable[[], bool] | None = None,
    deadline: float | None = None,
    timeout: float | None = None,
    log: Callable[[str], None] | None = None,
) -> None:
    """Run every step once its dependencies are done, at most ``jobs`` at a time.

    Raises RenderFailed (first failing step), RenderCancelled or RenderTimedOut. However
    it ends, no ffmpeg is left running and no unpublished temp output is left behind.
    """
    pending = list(steps)
    running: dict[str, tuple[Step, FfmpegProcess]] = {}
    fractions = {step.name: 0.0 for step in steps}
    done: set[str] = set()
    wake = threading.Event()
    next_cancel_check = 0.0
    try:
        while pending or running:
            now = time.monotonic()
            if should_cancel is not None and now >= next_cancel_check:
                next_cancel_check = now + CANCEL_POLL_INTERVAL
                if should_cancel():
                    raise RenderCancelled()
            if deadline is not None and now >= deadline:
                raise RenderTimedOut(timeout if timeout is not None else 0.0)
            wake.clear()
            for name, (step, proc) in list(running.items()):
                code = proc.poll()
                if code is None:
                    fractions[name] = proc.fraction
                    continue
                del running[name]
                stderr = without_noise(proc.stderr)
                if code != 0:
                    raise RenderFailed(last_meaningful_line(stderr),
                                       f"$ {shlex.join(step.argv)}\n{stderr}")
                if step.exact_frames and proc.frames_written != step.total_frames:
                    # e.g. a trim that starts past the end of the source: nothing to show
                    raise RenderFailed(
                        f"{step.name} produced {proc.frames_written or 0} of "
                        f"{step.total_frames} frames (is the trim beyond the end of the "
                        f"source?)", f"$ {shlex.join(step.argv)}\n{stderr}")
                if step.on_success is not None:
                    step.on_success(stderr)
                if step.sources is not None:
                    step.sources.after()
                _finish(step)
                fractions[name] = 1.0
                done.add(name)
                if log and stderr.strip():
                    log(f"{name}: {stderr.strip()}")
            skipped = False
            for step in list(pending):
                if len(running) >= jobs:
                    break
                if all(dep in done for dep in step.deps):
                    pending.remove(step)
                    if step.sources is not None:
                        step.sources.before()
                    if step.prepare is not None:
                        argv = step.prepare()
                        if argv is None:  # not needed
                            _finish(step)
                            fractions[step.name] = 1.0
                            done.add(step.name)
                            skipped = True
                            if log:
                                log(f"{step.name}: not needed")
                            continue
                        step.argv = argv
                    if log:
                        log(f"{step.name}: $ {shlex.join(step.argv)}")
                    proc = FfmpegProcess(step.argv, total_frames=step.total_frames,
                                         total_us=step.total_us, exited=wake)
                    running[step.name] = (step, proc)
                    proc.start()
            if pending and not running and not skipped:
                raise RuntimeError(f"unsatisfiable step dependencies: {pending}")
            tracker.update(fractions)
            if running:
                # A child whose pipes closed is about to be reapable: look again shortly.
                closing = any(proc.pipes_closed for _s, proc in running.values())
                wait = 0.005 if closing else CANCEL_POLL_INTERVAL
                if deadline is not None:
                    wait = max(0.0, min(wait, deadline - time.monotonic()))
                wake.wait(wait)
    finally:
        stop_all([proc for _step, proc in running.values()])
        for step in steps:
            if step.name not in done:
                remove_quietly(*(tmp for tmp, _final in step.outputs))
