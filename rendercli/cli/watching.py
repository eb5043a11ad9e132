"""Following jobs until they end: a live table on a terminal, lines or NDJSON otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rendercli.cli import output
from rendercli.errors import ExitStatus

if TYPE_CHECKING:
    from rendercli.services.renders.views import JobView

RECOVERY_EVERY = 15.0  # seconds between stale-job sweeps while watching


def eta_text(job: JobView) -> str:
    if job.status != "processing" or job.eta_seconds is None:
        return "-"
    return duration_text(job.eta_seconds)


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def _table(jobs: list[JobView]):  # type: ignore[no-untyped-def]
    from rich.progress_bar import ProgressBar

    table = output.data_table(
        ("JOB", "PROJECT", "STATUS", "PROGRESS", "", "ETA", "ELAPSED", "WORKER")
    )
    colours = {
        "completed": "green",
        "failed": "red",
        "cancelled": "yellow",
        "processing": "cyan",
        "queued": "white",
    }
    for job in jobs:
        table.add_row(
            output.cell(job.id),
            output.cell(job.project_name),
            output.cell(job.status, style=colours.get(job.status, "white")),
            ProgressBar(total=100, completed=job.progress, width=24),
            output.cell(f"{job.progress:5.1f}%"),
            output.cell(eta_text(job)),
            output.cell(duration_text(job.elapsed_seconds)),
            output.cell(", ".join(job.workers) or job.worker_name),
        )
    return table


def exit_status(jobs: list[JobView]) -> ExitStatus:
    if all(job.status == "completed" for job in jobs):
        return ExitStatus.OK
    return ExitStatus.FAILED


def _line(job: JobView) -> str:
    text = f"{output.iso(_now())} {job.id} {job.project_name} {job.status} {job.progress:.0f}%"
    if job.tasks_total:
        text += f" tasks {job.tasks_done}/{job.tasks_total} on {','.join(job.workers) or '-'}"
    if job.status == "failed" and job.error:
        text += f" error: {job.error}"
    if job.status == "completed" and job.output_path:
        text += f" output: {job.output_path}"
    if job.dispatch_pending and _farm_mode():
        text += " (dispatch pending: Redis unreachable)"
    return text


def _farm_mode() -> bool:
    from rendercli.config import get_settings

    return get_settings().redis_url is not None


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
    seen: dict[str, tuple[str, int]] = {}
    live = None
    if not json_lines and stream.isatty():
        from rich.live import Live

        console = output.stderr_console() if to_stderr else output.stdout_console()
        live = Live(console=console, auto_refresh=False, transient=to_stderr)
        live.start()
    try:
        while True:
            if maintenance is not None and time.monotonic() - last_sweep >= RECOVERY_EVERY:
                maintenance()
                last_sweep = time.monotonic()
            jobs = fetch()
            if live is not None:
                live.update(_table(jobs), refresh=True)
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
