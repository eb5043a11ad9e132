"""render submit: queue a render in the farm, or run it inline on the embedded default."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rendercli.cli import context, output, watching
from rendercli.cli.options import (
    FORCE_OPTION,
    FORMAT_OPTION,
    JSON_OPTION,
    OPEN_OPTION,
    PRESET_OPTION,
    PROJECT_ARG,
    QUALITY_OPTION,
    output_option,
)
from rendercli.errors import ExitStatus, InvalidInput, OperationFailed
from rendercli.render.presets import MAX_FPS, MIN_FPS

if TYPE_CHECKING:
    from rendercli.services.renders.submit import Started
    from rendercli.services.renders.views import JobView

FPS_OPTION = typer.Option(30, "--fps", metavar="FPS", help="Output frame rate (gif: at most 50).",
                          min=MIN_FPS, max=MAX_FPS)

app = typer.Typer(
    help="Render projects to video.\n\nExample: rendercli render submit holiday --wait",
    no_args_is_help=True,
)


def check_output(path: Path | None, *, waiting: bool, force: bool = False) -> Path | None:
    if path is None:
        return None
    if not waiting:
        raise InvalidInput("--output needs --wait in farm mode (the render finishes later)")
    from rendercli.cli import output_file

    return output_file.check_target(path, force=force)


@contextlib.contextmanager
def _interrupt_on_termination() -> Iterator[None]:
    """Treat SIGTERM and SIGHUP (a CI timeout, a closed terminal) like Ctrl-C, so an
    inline render stops ffmpeg and records the job as cancelled instead of leaving it
    processing."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_inline(job_id: str, json_output: bool):  # type: ignore[no-untyped-def]
    import socket
    import time

    from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
    from rich.text import Text

    from rendercli.services.renders import execute
    from rendercli.services.renders.lifecycle import INLINE_WORKER_PREFIX

    class Elapsed(ProgressColumn):
        def render(self, task):  # type: ignore[no-untyped-def]
            return Text(f"elapsed {output.duration_text(task.elapsed or 0.0)}")

    show_bar = sys.stderr.isatty() and not json_output
    progress = Progress(
        TextColumn("rendering"),
        BarColumn(),
        TextColumn("{task.fields[percent]}"),
        Elapsed(),
        TextColumn("ETA {task.fields[eta]}"),
        console=output.stderr_console(),
        disable=not show_bar,
        transient=True,
    )
    started = time.monotonic()
    with progress:
        task = progress.add_task("render", total=100, eta=watching.ETA_UNKNOWN,
                                 percent=output.percent_text(0))

        steps_logged: set[int] = set()

        def update(percent: float, eta: float | None) -> None:
            eta_text = watching.ETA_UNKNOWN if eta is None else output.duration_text(eta)
            if not show_bar and not json_output:  # CI logs: one line per 10 %
                step = int(percent // 10) * 10
                if step not in steps_logged:
                    steps_logged.add(step)
                    elapsed = output.duration_text(time.monotonic() - started)
                    output.note(f"rendering {job_id}: {step} %, elapsed {elapsed}, "
                                f"ETA {eta_text}")
            progress.update(task, completed=percent, eta=eta_text,
                            percent=output.percent_text(percent))

        with _interrupt_on_termination():
            try:
                view = execute.execute(
                    job_id,
                    worker_name=f"{INLINE_WORKER_PREFIX}{socket.gethostname()}",
                    on_progress=update,
                )
            except KeyboardInterrupt:
                progress.stop()
                output.note(f"interrupted: render {job_id} stopped and marked cancelled")
                raise
    assert view is not None  # we created it a moment ago; nobody else runs inline jobs
    return view


@app.command("submit")
def submit(
    project: str = PROJECT_ARG,
    preset: str = PRESET_OPTION,
    fmt: str = FORMAT_OPTION,
    fps: int = FPS_OPTION,
    quality: str = QUALITY_OPTION,
    no_cache: bool = typer.Option(False, "--no-cache", help="Re-encode everything."),
    loudness: float | None = typer.Option(
        None, "--loudness", metavar="LUFS",
        help="Normalise the mix to this integrated loudness (EBU R128), e.g. -14; "
        "-70 to -5. Default: off.",
    ),
    wait: bool = typer.Option(False, "--wait", help="Farm mode: follow the job until it ends."),
    output_path: Path | None = output_option("Copy the finished video to FILE."),
    force: bool = FORCE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Render a project. Inline with a progress bar by default; queued in farm mode.

    With RENDERCLI_REDIS_URL set the job goes to the `render-video` queue and this
    returns at once (add --wait to follow it). Exit 0 when the render completed, 1 when
    it failed or was cancelled, 5 when the project already has an active render or the
    --output file exists (add --force to replace it).

    Example: rendercli render submit holiday --preset 1080p --output holiday.mp4
    """
    from rendercli.config import get_settings
    from rendercli.services.renders import submit as renders

    target = check_output(output_path, waiting=get_settings().is_embedded or wait, force=force)
    user = context.require_user_recovering()
    request = renders.RenderRequest(
        preset=preset, format=fmt, fps=fps, quality=quality, use_cache=not no_cache,
        loudness=loudness,
    )
    follow(renders.start(context.uow(), user.id, project, request), user.id,
           wait=wait, target=target, json_output=json_output, force=force)


def follow(
    started: Started, user_id: str, *, wait: bool, target: Path | None, json_output: bool,
    force: bool = False,
) -> JobView:
    """The terminal side of starting a render (`render submit`, `jobs retry`, `demo`).

    Embedded default: render now with a progress bar, then `finish`. Farm: say if dispatch
    is pending; then follow the job to its end and `finish` (`wait`), or print it as it
    is queued. Returns the job's last view.
    """
    from rendercli.services.renders import views

    job = started.job
    if started.inline:
        job = run_inline(job.id, json_output)
    else:
        if started.dispatch_pending:
            output.note(
                f"note: job {job.id} is queued, but dispatch is pending: "
                f"{started.dispatch_pending}. It is dispatched automatically once Redis "
                "is back."
            )
        if not wait:
            job = views.get(context.uow(), user_id, job.id)
            output.result(job, json_output, job.id)
            return job
        job = wait_in_farm(job.id, user_id)
    finish(job, target, json_output, force=force)
    return job


def wait_in_farm(job_id: str, user_id: str):  # type: ignore[no-untyped-def]
    """Follow a farm job (progress on stderr) until it ends; return its final view."""
    from rendercli.services.renders import views

    watching.watch(
        lambda: [views.get(context.uow(), user_id, job_id)],
        interval=1.0,
        timeout=None,
        json_lines=False,
        maintenance=context.maintenance,
        to_stderr=True,
    )
    return views.get(context.uow(), user_id, job_id)


def finish(job, target: Path | None, json_output: bool, *, force: bool = False) -> None:  # type: ignore[no-untyped-def]
    if job.status == "completed" and target is not None:
        from rendercli.cli import output_file

        output_file.publish(job.output_path, target, force=force)
    if json_output:
        output.print_json(job)
    elif job.status == "completed":
        where = target or job.output_path
        hit = " (cache hit)" if job.cache_hit else ""
        output.say(f"Rendered {job.project_name} in "
                   f"{output.duration_text(job.elapsed_seconds or 0)}{hit}: {where}")
        output.note(
            f"job {job.id}: {output.duration_text(job.output_duration or 0)} of "
            f"{job.format}, {job.preset}, {output.bytes_text(job.output_size or 0)}"
        )
    if job.status == "failed":
        raise OperationFailed(f"render {job.id} failed: {job.error}")
    if job.status == "cancelled":
        if job.error == "interrupted":
            raise typer.Exit(ExitStatus.INTERRUPTED)
        raise OperationFailed(f"render {job.id} was cancelled")


@app.command("frame")
def frame(
    project: str = PROJECT_ARG,
    at: float = typer.Option(..., "--at", metavar="SECONDS", min=0.0,
                             help="The moment of the video to show, in seconds from its start."),
    preset: str = PRESET_OPTION,
    output_path: Path | None = output_option("Write the PNG to FILE (default: "
                                             "PROJECT-SECONDSs.png here)."),
    force: bool = FORCE_OPTION,
    open_file: bool = OPEN_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Show one frame of the video exactly as `render submit` would draw it (scaling,
    padding, rotation, transitions, text, motion), as a PNG. Only that frame is drawn,
    so it is quick however long the project is. Prints the file's path.

    Exit 2 when SECONDS is past the end of the video, 5 when the file exists (--force
    replaces it).

    Example: rendercli render frame holiday --at 12.5 --preset 1080p -o check.png --open
    """
    from rendercli.cli import stills
    from rendercli.services.renders import previews

    user = context.require_user()
    target = stills.target(output_path, user.id, project, f"-{at:g}s.png", force)
    with stills.scratch() as scratch:
        view = previews.frame(context.uow(), user.id, project, at, scratch / "frame.png",
                              preset=preset)
        stills.publish(scratch / "frame.png", target, force)
    if json_output:
        output.print_json({**output.jsonable(view), "path": str(target.resolve())})
    else:
        output.say(str(target))
        output.note(f"frame {view.frame} of {view.project_name} ({view.frame_seconds:.2f} s), "
                    f"{view.width}x{view.height}, {view.preset}")
    if open_file:
        stills.open_it(target)

