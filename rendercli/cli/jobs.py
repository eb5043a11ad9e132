"""jobs list | status | logs | download | url | cancel | retry | watch."""

from __future__ import annotations

from pathlib import Path

import typer

from rendercli.cli import context, output, output_file, watching
from rendercli.cli.options import (
    BATCH_OPTION,
    FORCE_OPTION,
    JOB_ARG,
    JSON_OPTION,
    OPEN_OPTION,
    TIMEOUT_OPTION,
    noun_app,
    output_option,
)
from rendercli.errors import InvalidInput
from rendercli.services.renders import views

app = noun_app("Follow and manage render jobs.\n\nExample: rendercli jobs watch --project holiday")


def _row(job):  # type: ignore[no-untyped-def]
    return (
        job.id,
        job.project_name,
        job.status,
        output.Percent(job.progress),
        job.preset,
        job.format,
        output.Seconds(job.elapsed_seconds),
        output.Moment(job.created_at),
    )


@app.command("list")
def list_(
    project: str | None = typer.Option(None, "--project", "-p", metavar="PROJECT",
                                       help="Only this project."),
    status: str | None = typer.Option(
        None, "--status", "-s", metavar="STATUS",
        help="queued, processing, completed, failed, cancelled.",
    ),
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=1000,
                              help="At most this many (newest first)."),
    batch: str | None = BATCH_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """List your render jobs, newest first.

    Example: rendercli jobs list --status failed --json
    """
    user = context.require_user_recovering()
    rows = views.list_jobs(context.uow(), user.id, project_ref=project, status=status,
                           limit=limit, batch_id=batch)
    if json_output:
        output.print_json(rows)
        return
    output.print_table(
        ["JOB", "PROJECT", "STATUS", "PROGRESS", "PRESET", "FORMAT", "ELAPSED", "CREATED"],
        [_row(j) for j in rows],
        empty="No render jobs.",
        optional=["FORMAT", "PRESET"],
    )


@app.command("status")
def status(job: str = JOB_ARG, json_output: bool = JSON_OPTION) -> None:
    """Show one job: status, progress, output and poster files, error.

    Example: rendercli jobs status k2x9c0c0p1q8r7s6t5u4v3w2 --json
    """
    user = context.require_user_recovering()
    view = views.get(context.uow(), user.id, job)
    if json_output:
        output.print_json(view)
        return
    fields = [
        ("id", view.id),
        ("project", view.project_name),
        ("status", view.status),
        ("progress", output.Percent(view.progress)),
        ("eta", watching.eta_text(view)),
        ("settings", f"{view.preset}, {view.format}, {view.fps} fps, {view.quality} quality"
                     + ("" if view.use_cache else ", no cache")),
        ("output", view.output_path),
        ("poster", view.poster_path),
        ("duration", output.Seconds(view.output_duration)),
        ("size", output.Bytes(view.output_size)),
        ("cache hit", view.cache_hit),
        ("attempts", view.attempts),
        ("worker", view.worker_name),
        ("created", view.created_at),
        ("started", view.started_at),
        ("finished", view.finished_at),
    ]
    if view.tasks_total:  # a render split over the farm
        fields.insert(fields.index(("worker", view.worker_name)) + 1,
                      ("tasks", f"{view.tasks_done}/{view.tasks_total} on "
                                f"{', '.join(view.workers) or output.PLACEHOLDER}"))
    if view.error:  # no empty "error:" line
        fields.insert(3, ("error", view.error))
    output.print_fields(fields)


@app.command("logs")
def logs(job: str = JOB_ARG, json_output: bool = JSON_OPTION) -> None:
    """Print the render log: ffmpeg commands, stderr tail, attempts and worker.

    Example: rendercli jobs logs k2x9c0c0p1q8r7s6t5u4v3w2
    """
    user = context.require_user_recovering()
    entry = views.logs(context.uow(), user.id, job)
    if json_output:
        output.print_json(entry)
        return
    output.say(
        f"job {entry.id}: {entry.status}, {entry.attempts} attempt(s), "
        f"worker {entry.worker_name or '-'}"
    )
    if entry.error:
        output.say(f"error: {entry.error}")
    output.say(entry.log.rstrip("\n"))
    for task in entry.tasks:
        took = "-" if task.seconds is None else f"{task.seconds:.2f} s"
        output.say(f"task {task.label}: {task.state}, worker {task.worker_name or '-'}, "
                   f"attempt {task.attempts}, {took}"
                   + (f", error: {task.error}" if task.error else ""))
        if task.command:
            output.say(task.command.rstrip("\n"))


@app.command("download")
def download(
    job: str = JOB_ARG,
    output_path: Path | None = output_option(
        "Write the video to FILE (default: PROJECT.EXT here; - writes it to stdout)."
    ),
    force: bool = FORCE_OPTION,
    open_file: bool = OPEN_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Copy a finished job's video out of storage (the local directory or the bucket),
    at any time after it completed. Prints the file's path; `-o -` writes the video to
    stdout instead, once all of it is verified.

    Exit 5 when the job has not completed or the file exists (--force replaces it).
    Exit 1, writing nothing (a partial copy is deleted), when the video in storage no
    longer matches the SHA-256 recorded when it was rendered.

    Example: rendercli jobs download k2x9c0c0p1q8r7s6t5u4v3w2 -o holiday.mp4 --open
    """
    from rendercli.services.renders import outputs

    user = context.require_user_recovering()
    view = views.get(context.uow(), user.id, job)
    outputs.check_fetchable(view)
    if output_path is not None and str(output_path) == "-":
        if open_file or json_output:
            raise InvalidInput("--open and --json need a file, not -o -")
        output_file.write_stdout(view)
        return
    target = output_file.check_target(
        output_path or output_file.default_name(view.project_name, f".{view.format}"),
        force=force,
    )
    output_file.publish_output(view, target, force=force)
    if json_output:
        output.print_json({**output.jsonable(view), "path": str(target.resolve())})
    else:
        output.say(str(target))
    if open_file:
        from rendercli.cli import stills  # opening a picture: only for --open

        stills.open_it(target)


def _seconds(text: str) -> int:
    """`--expires`: seconds, or a number with s, m, h or d (`90m`, `1h`, `7d`)."""
    import re

    match = re.fullmatch(r"\s*(\d{1,7})\s*([smhd]?)\s*", text)
    if not match:
        raise InvalidInput(f"--expires must be a duration such as 3600, 90m, 1h or 7d, "
                           f"got {text!r}")
    value = int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[
        match.group(2)]
    if not 1 <= value <= 7 * 86400:
        raise InvalidInput(f"--expires must be from 1 second to 7 days, got {text!r}")
    return value


@app.command("url")
def url(
    job: str = JOB_ARG,
    expires: str = typer.Option("1h", "--expires", metavar="DURATION",
                                help="How long the link works: 3600, 90m, 1h, 7d (at most)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Print a link to a finished job's video, for sharing: with a bucket
    (RENDERCLI_STORAGE_URL) a presigned HTTPS link anyone holding it can download until
    it expires; with a storage directory its file:// URI (--expires does not apply).

    Exit 5 when the job has not completed.

    Example: rendercli jobs url k2x9c0c0p1q8r7s6t5u4v3w2 --expires 1h
    """
    from rendercli.services.renders import outputs

    seconds = _seconds(expires)
    user = context.require_user_recovering()
    view = views.get(context.uow(), user.id, job)
    link = outputs.link(context.app().store(), view, expires=seconds)
    if json_output:
        output.print_json({"id": view.id, "url": link, "expires_in": seconds})
    else:
        output.say(link)


@app.command("cancel")
def cancel(
    job: str | None = typer.Argument(None, metavar="JOB",
                                     help="Job id (see `rendercli jobs list`)."),
    batch: str | None = typer.Option(
        None, "--batch", metavar="ID", help="Cancel every queued or running job of this batch."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Cancel a queued or running job; a running ffmpeg stops and no output is kept.

    Example: rendercli jobs cancel k2x9c0c0p1q8r7s6t5u4v3w2
    """
    from rendercli.services.renders import lifecycle

    if (job is None) == (batch is None):
        raise InvalidInput("give a JOB or --batch ID")
    user = context.require_user_recovering()
    if batch is not None:
        ids = [j.id for j in _batch_jobs(user.id, batch) if j.active]
        views = [lifecycle.cancel(context.uow(), user.id, i) for i in ids]
        output.result(views, json_output, f"Cancelled {len(views)} job(s) of batch {batch}.")
        return
    assert job is not None
    view = lifecycle.cancel(context.uow(), user.id, job)
    output.result(view, json_output, f"Cancelled {view.id}.")


def _batch_jobs(user_id: str, batch: str):  # type: ignore[no-untyped-def]
    """Every job of one of the user's batches, in row order; NotFound if there is none."""
    return views.batch_jobs(context.uow(), user_id, batch)


@app.command("retry")
def retry(job: str = JOB_ARG, json_output: bool = JSON_OPTION) -> None:
    """Submit a failed or cancelled job again, as a new job with the same settings.

    Example: rendercli jobs retry k2x9c0c0p1q8r7s6t5u4v3w2
    """
    # The render noun and its submit service load only here (~40 ms `jobs list` skips).
    from rendercli.cli.renders import follow
    from rendercli.services.renders import submit

    user = context.require_user_recovering()
    started = submit.start_retry(context.uow(), user.id, job)
    follow(started, user.id, wait=False, target=None, json_output=json_output)


@app.command("watch")
def watch(
    job_ids: list[str] | None = typer.Argument(None, metavar="JOB", help="Job ids."),
    project: str | None = typer.Option(
        None, "--project", "-p", metavar="PROJECT", help="Watch this project's latest job."
    ),
    interval: float = typer.Option(1.0, "--interval", metavar="SECONDS", min=0.1, max=3600,
                                   help="Seconds between updates."),
    batch: str | None = BATCH_OPTION,
    timeout: float | None = TIMEOUT_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Follow jobs until they end. Exit 0 if all completed, 1 if any failed or was
    cancelled, 124 on --timeout. Without JOB or --project: your active jobs.

    Off a terminal it prints one line per change (for CI logs); --json prints NDJSON.

    Example: rendercli jobs watch --project holiday --timeout 600
    """
    user = context.require_user_recovering()
    ids = list(job_ids or [])
    if project is not None:
        latest = views.list_jobs(context.uow(), user.id, project_ref=project, limit=1)
        if not latest:
            raise InvalidInput(f"project {project!r} has no render jobs")
        ids.append(latest[0].id)
    if batch is not None:
        ids += [j.id for j in _batch_jobs(user.id, batch)]
    if not ids:
        for active in ("processing", "queued"):
            ids += [j.id for j in views.list_jobs(context.uow(), user.id, status=active, limit=100)]
        if not ids:
            output.note("No active jobs.")
            return
    ids = list(dict.fromkeys(ids))
    views.get_many(context.uow(), user.id, ids)  # "not found" before anything is drawn
    code = watching.watch(
        lambda: views.get_many(context.uow(), user.id, ids),
        interval=interval,
        timeout=timeout,
        json_lines=json_output,
        maintenance=context.maintenance,
    )
    raise typer.Exit(int(code))
