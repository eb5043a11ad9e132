"""render submit: queue a render in the farm, or run it inline on the embedded default."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rendercli.cli import context, output, output_file, stills, watching
from rendercli.cli.apply import ALLOW_OUTSIDE_OPTION, set_values, spec_problems
from rendercli.cli.options import (
    FORCE_OPTION,
    FORMAT_OPTION,
    JSON_OPTION,
    OPEN_OPTION,
    PRESET_OPTION,
    PROJECT_ARG,
    QUALITY_OPTION,
    SET_OPTION,
    TIMEOUT_OPTION,
    noun_app,
    output_option,
)
from rendercli.cli.upload_bar import upload_bar
from rendercli.errors import ExitStatus, InvalidInput, OperationFailed, RenderCliError
from rendercli.render.presets import MAX_FPS, MIN_FPS
from rendercli.services.renders import submit as submit_service
from rendercli.services.renders import views

if TYPE_CHECKING:
    from rendercli.services.renders.submit import Started
    from rendercli.services.renders.views import JobView

FPS_OPTION = typer.Option(30, "--fps", metavar="FPS", help="Output frame rate (gif: at most 50).",
                          min=MIN_FPS, max=MAX_FPS)

app = noun_app("Render projects to video.\n\nExample: rendercli render submit holiday --wait")


def check_output(path: Path | None, *, waiting: bool, force: bool = False) -> Path | None:
    if path is None:
        return None
    if not waiting:
        raise InvalidInput("--output needs --wait in farm mode (the render finishes later)")

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


def _progress_bar():  # type: ignore[no-untyped-def]
    from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
    from rich.text import Text

    class Elapsed(ProgressColumn):
        def render(self, task):  # type: ignore[no-untyped-def]
            return Text(f"elapsed {output.duration_text(task.elapsed or 0.0)}")

    return Progress(
        TextColumn("rendering"),
        BarColumn(),
        TextColumn("{task.fields[percent]}"),
        Elapsed(),
        TextColumn("ETA {task.fields[eta]}"),
        console=output.stderr_console(),
        transient=True,
    )


def run_inline(job_id: str, json_output: bool):  # type: ignore[no-untyped-def]
    import socket

    from rendercli.services.renders import execute
    from rendercli.services.renders.lifecycle import INLINE_WORKER_PREFIX

    show_bar = sys.stderr.isatty() and not json_output
    # rich's progress bar loads only for a terminal (~60 ms): CI logs get lines.
    progress = _progress_bar() if show_bar else None
    started = time.monotonic()
    with progress or contextlib.nullcontext():
        task = None if progress is None else progress.add_task(
            "render", total=100, eta=watching.ETA_UNKNOWN, percent=output.percent_text(0))

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
            if progress is not None and task is not None:
                progress.update(task, completed=percent, eta=eta_text,
                                percent=output.percent_text(percent))

        with _interrupt_on_termination():
            try:
                view = execute.execute(
                    job_id,
                    worker_name=f"{INLINE_WORKER_PREFIX}{socket.gethostname()}",
                    on_progress=update,
                    uow=context.uow(),
                )
            except KeyboardInterrupt:
                if progress is not None:
                    progress.stop()
                output.note(f"interrupted: render {job_id} stopped and marked cancelled")
                raise
    assert view is not None  # we created it a moment ago; nobody else runs inline jobs
    return view


@app.command("submit")
def submit(
    ctx: typer.Context,
    project: str | None = typer.Argument(
        None, metavar="PROJECT",
        help="Project id or exact name. With --spec: the project to apply to (default: the "
        "spec's project:, else the file's name)."),
    spec: Path | None = typer.Option(
        None, "--spec", metavar="FILE",
        help="Apply this spec file first (as `rendercli apply` does), then render with its "
        "output: settings (options given here win) into its output.name, if any, in the "
        "current directory (--output wins)."),
    preset: str = PRESET_OPTION,
    fmt: str = FORMAT_OPTION,
    fps: int = FPS_OPTION,
    quality: str = QUALITY_OPTION,
    no_cache: bool = typer.Option(False, "--no-cache", help="Re-encode everything."),
    loudness: float | None = typer.Option(
        None, "--loudness", metavar="LUFS",
        help="Normalise the mix to this integrated loudness (EBU R128), e.g. -14; "
        "-70 to -5. Default: off (or the spec's).",
    ),
    allow_outside: bool = ALLOW_OUTSIDE_OPTION,
    set_: list[str] | None = SET_OPTION,
    wait: bool = typer.Option(False, "--wait", help="Farm mode: follow the job until it ends."),
    output_path: Path | None = output_option("Copy the finished video to FILE."),
    force: bool = FORCE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Render a project. Inline with a progress bar by default; queued in farm mode.

    With RENDERCLI_REDIS_URL set the job goes to the `render-video` queue and this
    returns at once (add --wait to follow it). Exit 0 when the render completed, 1 when
    it failed or was cancelled, 5 when the project already has an active render or the
    --output file exists (add --force to replace it). With --spec FILE the project is
    first made to match the file (`rendercli apply`, --set FIELD=VALUE filling its
    placeholders); an unchanged file applies nothing and renders from the cache.

    Example: rendercli render submit holiday --preset 1080p --output holiday.mp4
    """
    if spec is None and project is None:
        raise InvalidInput("give a PROJECT to render, or --spec FILE")
    if spec is None and allow_outside:
        raise InvalidInput("--allow-outside applies to --spec")
    if spec is None and set_:
        raise InvalidInput("--set applies to --spec")

    values = set_values(set_)
    target = check_output(output_path, waiting=context.settings().is_embedded or wait, force=force)
    user = context.require_user_recovering()
    if spec is None:
        assert project is not None
        request = submit_service.RenderRequest(preset=preset, format=fmt, fps=fps,
                                               quality=quality, use_cache=not no_cache,
                                               loudness=loudness)
        started = submit_service.start(context.uow(), user.id, project, request)
    else:
        from rendercli.cli.apply import plan_note
        from rendercli.services.specs.submit import submit_spec

        # The spec's output settings stand in for options left at their defaults.
        options = {"preset": ("preset", preset), "format": ("fmt", fmt), "fps": ("fps", fps),
                   "quality": ("quality", quality), "loudness": ("loudness", loudness)}
        given = {field: value for field, (name, value) in options.items()
                 if getattr(ctx.get_parameter_source(name), "name", "DEFAULT") != "DEFAULT"}
        following = context.settings().is_embedded or wait

        def named_output(prepared) -> None:  # type: ignore[no-untyped-def]
            nonlocal target
            name = prepared.spec.output.name
            if target is not None or name is None:
                return
            if following:  # the spec's output.name, here, as --output would be
                target = output_file.check_target(Path(name), force=force)
            else:
                output.note(f"note: output.name ({name}) is copied out when the render is "
                            "followed: add --wait, or `rendercli jobs download JOB` later")

        with spec_problems():
            started = submit_spec(user.id, spec, project=project, allow_outside=allow_outside,
                                  values=values, given=given, use_cache=not no_cache,
                                  on_applied=plan_note, before_start=named_output,
                                  uow=context.uow(),
                                  uploads=upload_bar(json_output=json_output)).started
    follow(started, user.id, wait=wait, target=target, json_output=json_output, force=force)


def follow(
    started: Started, user_id: str, *, wait: bool, target: Path | None, json_output: bool,
    force: bool = False,
) -> JobView:
    """The terminal side of starting a render (`render submit`, `jobs retry`, `demo`).

    Embedded default: render now with a progress bar, then `finish`. Farm: say if dispatch
    is pending; then follow the job to its end and `finish` (`wait`), or print it as it
    is queued. Returns the job's last view.
    """
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

        output_file.publish_output(job, target, force=force)
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
        if job.loudness is not None and job.loudness_lufs is not None:
            output.say(f"Loudness: {job.loudness_lufs:.1f} LUFS (target {job.loudness:g})")
    if job.status == "completed":
        _warn_loudness(job)
    if job.status == "failed":
        raise OperationFailed(f"render {job.id} failed: {job.error}")
    if job.status == "cancelled":
        if job.error == "interrupted":
            raise typer.Exit(ExitStatus.INTERRUPTED)
        raise OperationFailed(f"render {job.id} was cancelled")


def _warn_loudness(job) -> None:  # type: ignore[no-untyped-def]
    from rendercli.render.loudness import TOLERANCE

    if job.loudness is None or job.loudness_lufs is None:
        return
    miss = job.loudness_lufs - job.loudness
    if abs(miss) > TOLERANCE:
        output.note(f"warning: the output measures {job.loudness_lufs:.1f} LUFS, "
                    f"{abs(miss):.1f} LU {'above' if miss > 0 else 'below'} the "
                    f"{job.loudness:g} LUFS target (see `rendercli jobs logs {job.id}`)")


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
        stills.print_path(target)
        output.note(f"frame {view.frame} of {view.project_name} ({view.frame_seconds:.2f} s), "
                    f"{view.width}x{view.height}, {view.preset}")
    if open_file:
        stills.open_it(target)



@app.command("batch")
def batch(
    spec: Path = typer.Argument(..., metavar="FILE",
                                help="A spec file whose placeholders each data row fills."),
    data: Path = typer.Option(..., "--data", metavar="ROWS",
                              help="Data rows: .csv, .json (a list of objects) or .ndjson."),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", metavar="DIR",
        help="Copy each finished video here, named by the spec's output.name (else "
        "NAME.FORMAT)."),
    name_field: str | None = typer.Option(
        None, "--name-field", metavar="FIELD",
        help="The field that names each row's project and file. Default: row-N."),
    wait: bool = typer.Option(False, "--wait",
                              help="Farm mode: follow the batch until every row has ended."),
    timeout: float | None = TIMEOUT_OPTION,
    concurrency: int = typer.Option(
        1, "--concurrency", "-j", metavar="N",
        help="Inline (embedded default): render N rows at a time (1-16)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Re-encode everything."),
    force: bool = typer.Option(False, "--force", "-f",
                               help="Replace files in --output-dir (else exit 5 before "
                               "anything renders)."),
    replace: bool = typer.Option(
        False, "--replace",
        help="Take over projects of the rows' names that a batch of this spec did not make "
        "(else exit 5 before anything changes)."),
    allow_outside: bool = ALLOW_OUTSIDE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Render one video per data row: each row fills the spec's placeholders and becomes a
    project (SPEC-NAME) and a render, all in one batch.

    Every row is checked before anything is submitted: one bad row (a missing value, a
    missing or unusable file) fails the batch with its row number, exit 2, and nothing
    is queued. All rows' projects are applied and their jobs created in one transaction:
    a row that fails to apply changes no other. A batch changes only projects that
    batches of the same spec file made; one of a row's name made by hand (or by another
    spec) is refused, exit 5, unless --replace. Inline, rows render one after another
    (or N at a time); in the farm the whole batch is queued at once, in chunks. Parts
    the rows share come from the segment cache.
    Exit 0 only if every row completed, 1 otherwise, 124 when --wait --timeout runs out
    (the rows go on rendering). --json prints one JSON object per
    finished row (NDJSON). `jobs list|watch|cancel --batch ID` work on the batch later.

    Example: rendercli render batch video.yaml --data rows.csv --name-field name --output-dir out
    """
    from rendercli.services.specs import batch as batches

    if not 1 <= concurrency <= 16:
        raise InvalidInput("--concurrency must be between 1 and 16")
    if output_dir is not None and os.path.lexists(output_dir) and not output_dir.is_dir():
        raise output_file.not_a_directory(output_dir, "--output-dir")
    inline = context.settings().is_embedded
    if output_dir is not None and not (inline or wait):
        raise InvalidInput("--output-dir needs --wait in farm mode (the renders finish later)")
    if timeout is not None and (inline or not wait):
        raise InvalidInput("--timeout applies to --wait in farm mode")
    user = context.require_user_recovering()
    tally = _BatchTally(output_dir, json_output, force)

    def checked(prepared: batches.Batch) -> None:
        if output_dir is not None:
            output_file.ensure_directory(output_dir, "--output-dir")
            for row in prepared.rows:  # exit 5 for a file that is there, before any change
                output_file.check_target(output_dir / row.output_name, force=force,
                                         option="--output-dir")
        count = len(prepared.rows)
        output.note(f"{count} row{'s' * (count != 1)} checked; applying projects")

    def submitted(run: batches.BatchRun) -> None:
        tally.batch_id, tally.total = run.batch_id, len(run.batch.rows)
        tally.started = time.monotonic()
        if run.dispatch_pending:
            output.note(f"note: the batch is queued, but dispatch is pending: "
                        f"{run.dispatch_pending}. It is dispatched automatically once Redis "
                        "is back.")
        count = tally.total
        output.note(f"batch {run.batch_id}: {count} render{'s' * (count != 1)} "
                    f"{'to run' if inline else 'queued'}")
        if inline or wait:
            return
        if json_output:
            for row in run.batch.rows:
                output.print_json_line({"batch_id": run.batch_id, "row": row.number,
                                        "name": row.name, "job_id": row.job_id,
                                        "status": "queued", "output_path": None})
        else:
            output.say(run.batch_id)

    try:
        with spec_problems(), _interrupt_on_termination() if inline else \
                contextlib.nullcontext():
            run = batches.render_batch(
                user.id, spec, data, name_field=name_field, allow_outside=allow_outside,
                use_cache=not no_cache, replace=replace, concurrency=concurrency, wait=wait,
                timeout=timeout, checked=checked, submitted=submitted,
                finished=tally.finished, upkeep=context.maintenance,
                uow_factory=context.app().unit_of_work,
                uploads=upload_bar(json_output=json_output))
    except KeyboardInterrupt:
        if inline and tally.batch_id:
            output.note(f"interrupted: batch {tally.batch_id} stopped and its jobs cancelled")
        raise
    if not inline and not wait:
        return
    tally.summary()
    if not run.ended:
        output.error_line(f"timed out after {timeout:g} s; {tally.total - tally.ended} rows "
                          f"still running (follow them: rendercli jobs watch --batch "
                          f"{run.batch_id})")
        raise typer.Exit(ExitStatus.TIMEOUT)
    if tally.failed:
        raise typer.Exit(ExitStatus.FAILED)


class _BatchTally:
    """One progress view over a batch: rows done and failed, an ETA, one line (or one
    JSON line) per finished row, outputs copied to --output-dir."""

    def __init__(self, output_dir: Path | None, json_output: bool, force: bool) -> None:
        self.batch_id, self.total = "", 0  # known once the batch is submitted
        self.output_dir, self.json_output, self.force = output_dir, json_output, force
        self.done = self.failed = 0
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def finished(self, row, job) -> None:  # type: ignore[no-untyped-def]
        path = job.output_path
        error = job.error
        with self.lock:
            delivered = job.status == "completed"
            if delivered and self.output_dir is not None:
                target = self.output_dir / row.output_name
                try:
                    output_file.publish_output(job, target, force=self.force,
                                               option="--output-dir")
                    path = str(target)
                except RenderCliError as exc:
                    # Rendered but not where it was asked for: the row failed (exit 1).
                    delivered, error = False, f"not copied to {target}: {exc.message}"
            if delivered:
                self.done += 1
            else:
                self.failed += 1
            ended = self.ended
            if self.json_output:
                output.print_json_line({"batch_id": self.batch_id, "row": row.number,
                                        "name": row.name, "job_id": job.id,
                                        "status": job.status, "output_path": path,
                                        "error": error})
            else:
                what = path if delivered else f"{job.status}: {error}"
                output.say(f"row {row.number} {row.name}: {what}")
            elapsed = time.monotonic() - self.started
            left = self.total - ended
            eta = "" if not left else f", ETA {output.duration_text(elapsed / ended * left)}"
            output.note(f"batch {self.batch_id}: {self.done}/{self.total} done, "
                        f"{self.failed} failed{eta}")

    @property
    def ended(self) -> int:
        return self.done + self.failed

    def summary(self) -> None:
        if not self.json_output:
            output.note(f"batch {self.batch_id}: {self.done} completed, {self.failed} failed "
                        f"of {self.total}")
