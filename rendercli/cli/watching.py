"""Following jobs until they end: a live table on a terminal, lines or NDJSON otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rendercli.cli import output
from rendercli.cli.command_app import command_app
from rendercli.errors import ExitStatus

if TYPE_CHECKING:
    from rendercli.services.renders.views import JobView

ETA_UNKNOWN = "\u2013"  # an en dash: no estimate yet
BAR_WIDTH = 24  # at most; narrower (down to BAR_MIN) on a narrow terminal
BAR_MIN = 8
COLOURS = {
    "completed": "green",
    "failed": "red",
    "cancelled": "yellow",
    "processing": "cyan",
    "queued": "white",
}


def eta_text(job: JobView) -> str:
    if job.status != "processing":
        return output.PLACEHOLDER
    if job.eta_seconds is None:
        return ETA_UNKNOWN
    return output.duration_text(job.eta_seconds)


COLUMNS = ("JOB", "PROJECT", "STATUS", "PROGRESS", "", "ETA", "ELAPSED", "WORKER")


def _workers(job: JobView) -> str:
    """The workers a job runs on: those of its tasks for a render split over the farm."""
    return ", ".join(job.workers) or job.worker_name or output.PLACEHOLDER


def _table(jobs: list[JobView], width: int):  # type: ignore[no-untyped-def]
    """The live table, fitted to `width` columns by the one table layout
    (`output.fit_table`): ids shortened to a unique prefix first, the worker column cut,
    then dropped, project names cut with "…" last; the bar takes spare room up to
    BAR_WIDTH."""
    from rich.progress_bar import ProgressBar

    rows = [[job.id, output.visible(job.project_name), job.status, " " * BAR_MIN,
             output.percent_text(job.progress), eta_text(job),
             output.duration_text(job.elapsed_seconds),
             output.visible(_workers(job))] for job in jobs]
    layout = output.fit_table(COLUMNS, rows, width, ids=[0], names=[1], details=[7],
                              optional=[7], stretch=3, stretch_max=BAR_WIDTH)
    table = output.fitted_table(COLUMNS, layout)
    for job, row in zip(jobs, rows, strict=True):
        cells: list[Any] = list(layout.cells(row))
        for n, index in enumerate(layout.shown):
            if index == 2:
                cells[n] = output.cell(job.status, style=COLOURS.get(job.status, "white"))
            elif index == 3:
                cells[n] = ProgressBar(total=100, completed=job.progress,
                                       width=layout.widths[3])
            else:
                cells[n] = output.cell(cells[n])
        table.add_row(*cells)
    return table


def exit_status(jobs: list[JobView]) -> ExitStatus:
    if all(job.status == "completed" for job in jobs):
        return ExitStatus.OK
    return ExitStatus.FAILED


def _line(job: JobView) -> str:
    text = (f"{output.iso(_now())} {job.id} {job.project_name} {job.status} "
            f"{output.percent_text(job.progress)}")
    if job.tasks_total:
        text += (f" tasks {job.tasks_done}/{job.tasks_total} on "
                 f"{','.join(job.workers) or output.PLACEHOLDER}")
    if job.status == "failed" and job.error:
        text += f" error: {job.error}"
    if job.status == "completed" and job.output_path:
        text += f" output: {job.output_path}"
    if job.dispatch_pending and _farm_mode():
        text += " (dispatch pending: Redis unreachable)"
    return text


def _farm_mode() -> bool:

    return command_app().settings.redis_url is not None


def _now():  # type: ignore[no-untyped-def]
    from rendercli.db.types import utcnow

    return utcnow()


def watch(
    fetch: Callable[[], list[JobView]],
    *,
    interval: float,
    timeout: float | None,
    json_lines: bool,
    maintenance: Callable[[], None] | None = None,
    to_stderr: bool = False,
) -> ExitStatus:
    """Poll `fetch` until every job has ended; print as the jobs change.

    `to_stderr` keeps stdout free for a final document (`render submit --wait --json`).
    """
    stream = sys.stderr if to_stderr else sys.stdout
    started = time.monotonic()
    last_sweep = 0.0
    sweep_interval = command_app().settings.watch_sweep_interval
    seen: dict[str, tuple[str, int]] = {}
    live = None
    if not json_lines and stream.isatty():
        from rich.live import Live

        console = output.stderr_console() if to_stderr else output.stdout_console()
        live = Live(console=console, auto_refresh=False, transient=to_stderr)
        live.start()
    try:
        while True:
            if maintenance is not None and time.monotonic() - last_sweep >= sweep_interval:
                maintenance()
                last_sweep = time.monotonic()
            jobs = fetch()
            if live is not None:
                live.update(_table(jobs, live.console.width), refresh=True)
            else:
                for job in jobs:
                    state = (job.status, int(job.progress // 10))
                    if seen.get(job.id) != state:
                        seen[job.id] = state
                        if json_lines:
                            output.print_json_line(job)
                        else:
                            stream.write(output.visible(_line(job)) + "\n")
                            stream.flush()
            if all(job.finished for job in jobs):
                return exit_status(jobs)
            if timeout is not None and time.monotonic() - started >= timeout:
                output.error_line(f"timed out after {timeout:g} s; the jobs are still running")
                return ExitStatus.TIMEOUT
            time.sleep(interval)
    finally:
        if live is not None:
            live.stop()
