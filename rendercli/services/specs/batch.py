"""``rendercli render batch``: one project and one render per data row.

Everything is checked before anything is submitted: the spec, every row (a missing
value, a file that is missing, refused or not media: the problem names the row), the
project and output names (unique across rows), and every file is hashed. One bad row
fails the batch and nothing is applied or queued. Then every row's project is applied
(files already stored are not copied again, so rows that share media store it once),
and then every row's render is submitted with one batch id. Rows that share parts
(the same intro, the same music) share the segment cache when they render.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rendercli.db.ids import new_id
from rendercli.db.rows import insert, integrity_error
from rendercli.errors import Conflict
from rendercli.media.hash_memo import default_memo
from rendercli.repositories.items import read_items_of
from rendercli.repositories.jobs import VIEW_COLUMNS, new_job_row
from rendercli.repositories.projects import active_jobs, projects_named
from rendercli.services.renders import dispatch, execute, lifecycle, views
from rendercli.services.renders.lifecycle import INLINE_WORKER_PREFIX
from rendercli.services.renders.submit import (
    RenderRequest,
    Started,
    check_render_storage,
    engine_settings,
    validate_request,
)
from rendercli.services.renders.timeline import check_timeline, stored_fit
from rendercli.services.renders.views import view_of
from rendercli.services.specs.apply import (
    Applied,
    Prepared,
    Stored,
    apply_many,
    plan_for,
    prepare_loaded,
    stored_lookup,
)
from rendercli.services.specs.submit import request_for
from rendercli.services.unit_of_work import UnitOfWork
from rendercli.specfile.batch_rows import load_rows
from rendercli.specfile.media import Prober
from rendercli.specfile.model import check_file_name
from rendercli.specfile.problems import Problem, SpecInvalid
from rendercli.specfile.template import MissingValue, TemplateError, has_placeholders
from rendercli.specfile.template import substitute as fill_text

if TYPE_CHECKING:
    from rendercli.media.hash_memo import HashMemo
    from rendercli.repositories.projects import ProjectRow
    from rendercli.services.renders.views import JobView
    from rendercli.services.specs.plan import Plan
    from rendercli.services.uploads import UploadProgress
    from rendercli.specfile.batch_rows import DataRows
    from rendercli.specfile.loader import LoadedSpec

MAX_NAME_CHARS = 200


@dataclass
class BatchRow:
    number: int  # 1-based row of the data file
    name: str  # the row's name: --name-field's value, else row-N
    output_name: str  # the rendered file's name under --output-dir
    prepared: Prepared
    request: RenderRequest
    job_id: str | None = None


@dataclass
class Batch:
    file: str
    rows: list[BatchRow]
    origin: str = ""  # recorded on the projects it makes (see spec_origin)


def spec_origin(spec_path: Path) -> str:
    """What a batch records on the projects it makes: which spec file made them (its
    real path, hashed: fixed length, nothing of the path shown)."""
    real = os.path.realpath(spec_path)
    return "batch:" + hashlib.sha256(os.fsencode(real)).hexdigest()[:32]


def prepare_batch(spec_path: Path, data_path: Path, *, name_field: str | None,
                  allow_outside: bool = False, cache: HashMemo | None = None,
                  stored: Stored | None = None,
                  use_cache: bool = True) -> Batch:
    """Check and hash a spec and every data row; SpecInvalid with every problem."""
    from rendercli.specfile import check
    from rendercli.specfile.fill import template_sites

    prober = Prober()
    early: list[Problem] = []  # the spec's and the data file's format problems, together
    try:
        loaded = check.load_checked(spec_path, allow_outside=allow_outside, prober=prober)
    except SpecInvalid as exc:
        early += exc.problems
    try:
        rows = load_rows(data_path)
    except SpecInvalid as exc:
        early += exc.problems
    if early:
        raise SpecInvalid(early)
    report = check.validate_loaded(loaded, rows=rows, allow_outside=allow_outside,
                                   prober=prober)
    problems: list[Problem] = list(report.problems)
    if name_field is not None and name_field not in rows.columns:
        problems.append(Problem(rows.file, 1, 1, f"--name-field {name_field!r} is not a field "
                                f"of the data (its fields: {', '.join(rows.columns)})"))
        raise SpecInvalid(sorted(set(problems), key=_order))
    # Names and their uniqueness are checked with everything else, in one run.
    names = _row_names(loaded, rows, name_field, problems)
    if problems:
        raise SpecInvalid(sorted(set(problems), key=_order))
    batch = Batch(loaded.file, [], origin=spec_origin(spec_path))
    sites = template_sites(loaded.spec)
    for row in rows.rows:
        def at_row(where: Any, message: str, row: Any = row) -> Problem:
            spot = loaded.position(where)
            return rows.problem(row, f"{message} (used at {loaded.file}:{spot.line}:"
                                     f"{spot.column})")

        name, project, output_name = names[row.number]
        try:
            prepared = prepare_loaded(loaded, row.values, project=project,
                                      allow_outside=allow_outside, prober=prober, cache=cache,
                                      stored=stored, row_problem=at_row, sites=sites)
        except SpecInvalid as exc:
            problems.extend(exc.problems)
            continue
        batch.rows.append(BatchRow(row.number, name, output_name, prepared,
                                   request_for(prepared, {}, use_cache=use_cache)))
    if problems:
        raise SpecInvalid(sorted(set(problems), key=_order))
    return batch


def _row_names(loaded: LoadedSpec, rows: DataRows, name_field: str | None,
               problems: list[Problem]) -> dict[int, tuple[str, str | None, str]]:
    """Each row's (name, project name or None for the filled ``project:``, output file
    name), by row number. Problems (an empty or long name, names two rows share) are
    added to ``problems``; a row whose names need a missing value is left to the
    placeholder checks, which report it."""
    spec = loaded.spec
    templated = spec.project is not None and has_placeholders(spec.project)
    base = spec.project if spec.project and not templated else Path(loaded.file).stem
    names: dict[int, tuple[str, str | None, str]] = {}
    projects: dict[str, int] = {}
    outputs: dict[str, int] = {}
    for row in rows.rows:
        name = f"row-{row.number}"
        if name_field is not None:
            value = (row.values.get(name_field) or "").strip()
            if not value:
                problems.append(rows.problem(row, f"no value for the name field {name_field!r}"))
                continue
            if len(value) > MAX_NAME_CHARS:
                problems.append(rows.problem(row, f"the name field {name_field!r} is "
                                                  f"{len(value)} characters; at most "
                                                  f"{MAX_NAME_CHARS} are allowed"))
                continue
            name = value
        try:
            project = fill_text(spec.project, row.values) if templated else f"{base}-{name}"
            output_name = (fill_text(spec.output.name, row.values) if spec.output.name
                           else f"{name}.{spec.output.format}")
        except (MissingValue, TemplateError):
            continue  # reported by the placeholder checks
        if spec.output.name is None:  # a filled-in output.name is checked with its text
            try:
                check_file_name(output_name)
            except ValueError as exc:
                problems.append(rows.problem(row, str(exc)))
                continue
        names[row.number] = (name, None if templated else project, output_name)
        for seen, key, what in ((projects, project, "project name"),
                                (outputs, output_name, "output name")):
            if key in seen:
                problems.append(rows.problem(row, f"{what} {key!r} is also row {seen[key]}'s: "
                                                  "rows need distinct names (--name-field)"))
            seen.setdefault(key, row.number)
    return names


def _order(problem: Problem) -> tuple[object, ...]:
    return (problem.row or 0, problem.line, problem.column, problem.message)


CHUNK = 500  # jobs per Redis pipeline


def submit_batch(uow_factory: Callable[[], UnitOfWork], user_id: str, batch: Batch,
                 *, replace: bool = False, uploads: UploadProgress | None = None
                 ) -> tuple[str, list[Started]]:
    """Apply every row's project and create every row's render job under one batch id,
    all in one transaction; then hand the jobs on (farm: queued in chunks, one Redis
    pipeline per chunk).

    Checked before anything changes: a project of the same name that this spec's batches
    did not make (made by hand, by `apply` or by another spec) is refused unless
    ``replace``, and so is a project with a render in progress. A row that still fails
    (a name taken meanwhile, a render started meanwhile, a timeline refused) rolls every
    row back: nothing is applied and nothing is queued.
    """
    for row in batch.rows:
        validate_request(row.request)
    uow = uow_factory()
    check_render_storage(uow.settings)
    plans = _check_projects(uow, user_id, batch, replace=replace)
    batch_id = new_id()
    views: list[JobView] = []

    def claim(project: ProjectRow, created: bool) -> None:
        if created or replace:
            project.spec_origin = batch.origin
        elif project.spec_origin != batch.origin:
            raise Conflict(f"project {project.name!r} was made meanwhile, not by this spec's "
                           "batches: nothing was changed (--replace takes it over)")

    def submit_jobs(uow: UnitOfWork, done: list[tuple[Applied, ProjectRow]]) -> None:
        views.extend(_create_jobs(uow, user_id, batch, done, batch_id))

    apply_many(uow, user_id, [row.prepared for row in batch.rows], plans, claim=claim,
               then=submit_jobs, uploads=uploads)
    for row, view in zip(batch.rows, views, strict=True):
        row.job_id = view.id
    if uow.settings.is_embedded:
        return batch_id, [Started(view, inline=True) for view in views]
    pending = dispatch.enqueue_new([view.id for view in views], chunk=CHUNK, uow=uow)
    return batch_id, [Started(view, inline=False, dispatch_pending=pending) for view in views]


@dataclass
class BatchRun:
    """A submitted batch: its rows (each with its job id) and how it was handed on."""

    batch_id: str
    batch: Batch
    started: list[Started] = field(default_factory=list)
    inline: bool = True  # rendered here (embedded default), else queued in the farm
    ended: bool = False  # every row's render ended (False: queued, or --wait timed out)

    @property
    def dispatch_pending(self) -> str | None:
        return next((s.dispatch_pending for s in self.started if s.dispatch_pending), None)


def render_batch(user_id: str, spec_path: Path, data_path: Path, *,
                 name_field: str | None = None, allow_outside: bool = False,
                 use_cache: bool = True, replace: bool = False, concurrency: int = 1,
                 wait: bool = False, timeout: float | None = None,
                 checked: Callable[[Batch], None] | None = None,
                 submitted: Callable[[BatchRun], None] | None = None,
                 finished: Callable[[BatchRow, JobView], None] | None = None,
                 upkeep: Callable[[], None] | None = None,
                 uow_factory: Callable[[], UnitOfWork],
                 uploads: UploadProgress | None = None) -> BatchRun:
    """``rendercli render batch``: check every row (SpecInvalid with every problem), apply
    and submit them all (:func:`submit_batch`), then follow them to their end.

    Embedded default: the rows render here, ``concurrency`` at a time; an interrupt
    (KeyboardInterrupt) cancels the rest and is raised again. Farm: the batch is queued;
    with ``wait`` it is followed (``upkeep`` first, then its jobs, once a second) until
    every row ended or ``timeout`` seconds passed (then ``ended`` is False).
    ``checked`` hears the batch before anything changes (it may refuse by raising),
    ``submitted`` the submitted batch, ``finished`` each row as its render ends.
    """
    batch = prepare_batch(spec_path, data_path, name_field=name_field,
                          allow_outside=allow_outside, cache=default_memo(),
                          stored=stored_lookup(uow_factory(), user_id), use_cache=use_cache)
    if checked is not None:
        checked(batch)
    batch_id, started = submit_batch(uow_factory, user_id, batch, replace=replace,
                                     uploads=uploads)
    run = BatchRun(batch_id, batch, started, inline=uow_factory().settings.is_embedded)
    if submitted is not None:
        submitted(run)
    rows = {row.job_id: row for row in batch.rows}

    def ended(job: JobView) -> None:
        if finished is not None:
            finished(rows[job.id], job)

    job_ids = [s.job.id for s in started]
    if run.inline:
        _render_here(uow_factory, user_id, job_ids, concurrency, ended)
        run.ended = True
    elif wait:
        run.ended = _wait_for(uow_factory, user_id, job_ids, ended, timeout, upkeep)
    return run


def _render_here(uow_factory: Callable[[], UnitOfWork], user_id: str, job_ids: list[str],
                 concurrency: int, ended: Callable[[JobView], None]) -> None:
    """Render the batch's jobs in this process, ``concurrency`` at a time; an interrupt
    cancels the rest."""
    import socket
    from concurrent.futures import ThreadPoolExecutor

    name = f"{INLINE_WORKER_PREFIX}{socket.gethostname()}"

    def one(job_id: str) -> None:
        view = execute.execute(job_id, worker_name=name, on_progress=lambda *_: None,
                               uow=uow_factory())
        ended(view if view is not None else views.get(uow_factory(), user_id, job_id))

    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(one, job_id) for job_id in job_ids]
        try:
            for future in futures:
                future.result()
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            for job_id in job_ids:
                with contextlib.suppress(Exception):
                    lifecycle.cancel(uow_factory(), user_id, job_id)
            raise


def _wait_for(uow_factory: Callable[[], UnitOfWork], user_id: str, job_ids: list[str],
              ended: Callable[[JobView], None], timeout: float | None,
              upkeep: Callable[[], None] | None) -> bool:
    """Follow farm jobs until every one has ended (True) or ``timeout`` seconds have
    passed (False)."""
    started = time.monotonic()
    pending = set(job_ids)
    while pending:
        if upkeep is not None:
            upkeep()
        for job in views.get_many(uow_factory(), user_id, sorted(pending)):
            if job.finished:
                pending.discard(job.id)
                ended(job)
        if pending:
            if timeout is not None and time.monotonic() - started >= timeout:
                return False
            time.sleep(1.0)
    return True


def _check_projects(uow: UnitOfWork, user_id: str, batch: Batch, *,
                    replace: bool) -> list[Plan]:
    """Each row's plan, after refusing (Conflict, nothing changed) projects the batch
    may not change: not made by this spec (unless ``replace``), or rendering."""
    names = [row.prepared.project for row in batch.rows]
    with uow:
        existing = projects_named(uow.rows, user_id, names)
        rows_of = {row.prepared.project: row.number for row in batch.rows}
        if not replace:
            foreign = [p.name for p in existing.values() if p.spec_origin != batch.origin]
            if foreign:
                raise Conflict(_listed(
                    foreign, rows_of, "not made by a batch of this spec",
                    "give the rows other names, or --replace to take the projects over"))
        by_id = {p.id: p.name for p in existing.values()}
        rendering = [by_id[pid] for pid in active_jobs(uow.rows, list(by_id))]
        if rendering:
            raise Conflict(_listed(sorted(set(rendering), key=rows_of.__getitem__), rows_of,
                                   "rendering",
                                   "wait for them, or `rendercli jobs cancel` their jobs"))
        return [plan_for(uow.rows, existing.get(row.prepared.project), row.prepared)
                for row in batch.rows]


def _listed(names: list[str], rows_of: dict[str, int], what: str, fix: str) -> str:
    """One line naming (the first few) projects and their rows."""
    names = sorted(names, key=rows_of.__getitem__)
    shown = ", ".join(f"{name!r} (row {rows_of[name]})" for name in names[:5])
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    noun = "project" if len(names) == 1 else "projects"
    return f"{noun} {shown}{more} {'is' if len(names) == 1 else 'are'} {what}: {fix}; " \
        "nothing was changed"


def _create_jobs(uow: UnitOfWork, user_id: str, batch: Batch,
                 done: list[tuple[Applied, ProjectRow]], batch_id: str) -> list[JobView]:
    """Every row's queued job, in the apply's transaction (each timeline checked)."""
    items = read_items_of(uow.rows, [project.id for _applied, project in done])
    jobs: list[dict[str, Any]] = []
    views = []
    for row, (_applied, project) in zip(batch.rows, done, strict=True):
        check_timeline(uow, project.id, settings=engine_settings(row.request),
                       project_name=project.name, items=items[project.id],
                       default_fit=stored_fit(project.fit))
        job = new_job_row(project.id, user_id, **asdict(row.request), batch_id=batch_id)
        if jobs:  # row order is creation order, a microsecond apart (views.batch_jobs)
            job["created_at"] = job["updated_at"] = jobs[-1]["created_at"] + timedelta(
                microseconds=1)
        jobs.append(job)
        uow.record_event("render.submitted", user_id, job_id=job["id"], project_id=project.id,
                         preset=job["preset"], format=job["format"], batch_id=batch_id)
        views.append(view_of({**dict.fromkeys(VIEW_COLUMNS), **job,
                              "project_name": project.name}, uow.settings))
    try:
        insert(uow.rows, "render_jobs", *jobs)
    except Exception as exc:
        if not integrity_error(exc):
            raise
        raise Conflict("a project of this batch got a render meanwhile: nothing was "
                       "changed; run the batch again once it ends") from None
    return views
