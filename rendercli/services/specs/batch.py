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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rendercli.services.specs.apply import Prepared, Stored, apply, prepare_loaded
from rendercli.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from rendercli.services.renders.submit import RenderRequest, Started
    from rendercli.services.specs.files import HashCache
    from rendercli.spec.problems import Problem

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


def prepare_batch(spec_path: Path, data_path: Path, *, name_field: str | None,
                  allow_outside: bool = False, cache: HashCache | None = None,
                  stored: Stored | None = None,
                  use_cache: bool = True) -> Batch:
    """Check and hash a spec and every data row; SpecInvalid with every problem."""
    from rendercli.services.renders.submit import RenderRequest
    from rendercli.spec import check
    from rendercli.spec.fill import template_sites
    from rendercli.spec.loader import load_spec
    from rendercli.spec.media import Prober
    from rendercli.spec.model import check_file_name
    from rendercli.spec.problems import Problem, SpecInvalid
    from rendercli.spec.rows import load_rows
    from rendercli.spec.template import has_placeholders

    loaded = load_spec(spec_path)
    rows = load_rows(data_path)
    prober = Prober()
    report = check.validate_loaded(loaded, rows=rows, allow_outside=allow_outside,
                                   prober=prober)
    problems: list[Problem] = list(report.problems)
    if name_field is not None and name_field not in rows.columns:
        problems.append(Problem(rows.file, 1, 1, f"--name-field {name_field!r} is not a field "
                                f"of the data (its fields: {', '.join(rows.columns)})"))
    if problems:
        raise SpecInvalid(problems)
    spec = loaded.spec
    base = spec.project if spec.project and not has_placeholders(spec.project) else None
    base = base or Path(loaded.file).stem
    templated_project = spec.project is not None and has_placeholders(spec.project)
    batch = Batch(loaded.file, [])
    sites = template_sites(spec)
    projects: dict[str, int] = {}
    outputs: dict[str, int] = {}
    for row in rows.rows:
        def at_row(where: Any, message: str, row: Any = row) -> Problem:
            spot = loaded.position(where)
            return rows.problem(row, f"{message} (used at {loaded.file}:{spot.line}:"
                                     f"{spot.column})")

        name = f"row-{row.number}"
        if name_field is not None:
            value = (row.values.get(name_field) or "").strip()
            if not value:
                problems.append(rows.problem(row, f"no value for the name field {name_field!r}"))
                continue
            name = value[:MAX_NAME_CHARS]
        project = None if templated_project else f"{base}-{name}"
        try:
            prepared = prepare_loaded(loaded, row.values, project=project,
                                      allow_outside=allow_outside, prober=prober, cache=cache,
                                      stored=stored, row_problem=at_row, sites=sites)
        except SpecInvalid as exc:
            problems.extend(exc.problems)
            continue
        out = prepared.spec.output
        output_name = out.name or f"{name}.{out.format}"
        try:
            check_file_name(output_name)
        except ValueError as exc:
            problems.append(rows.problem(row, str(exc)))
            continue
        for seen, key, what in ((projects, prepared.project, "project name"),
                                (outputs, output_name, "output name")):
            if key in seen:
                problems.append(rows.problem(row, f"{what} {key!r} is also row {seen[key]}'s: "
                                                  "rows need distinct names (--name-field)"))
            seen.setdefault(key, row.number)
        request = RenderRequest(preset=out.preset, format=out.format, fps=out.fps,
                                quality=out.quality, use_cache=use_cache,
                                loudness=out.loudness)
        batch.rows.append(BatchRow(row.number, name, output_name, prepared, request))
    if problems:
        raise SpecInvalid(sorted(set(problems), key=_order))
    return batch


def _order(problem: Problem) -> tuple[object, ...]:
    return (problem.row or 0, problem.line, problem.column, problem.message)


def submit_batch(uow_factory: Callable[[], UnitOfWork], user_id: str, batch: Batch,
                 *, on_applied: Callable[[BatchRow], None] | None = None
                 ) -> tuple[str, list[Started]]:
    """Apply every row's project, then submit every row's render under one batch id.

    The renders are submitted only once every project is applied, so a row that fails
    to apply (a project rendering, a name taken meanwhile) queues nothing.
    """
    from rendercli.db.ids import new_id
    from rendercli.services.renders.submit import start

    for row in batch.rows:
        apply(uow_factory(), user_id, row.prepared)
        if on_applied is not None:
            on_applied(row)
    batch_id = new_id()
    started = []
    for row in batch.rows:
        handed = start(uow_factory(), user_id, row.prepared.project, row.request,
                       batch_id=batch_id)
        row.job_id = handed.job.id
        started.append(handed)
    return batch_id, started
