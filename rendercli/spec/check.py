"""``rendercli spec validate``: a spec file checked completely, optionally for every data row.

1. The file is read and checked against the format (``loader``).
2. Media paths without placeholders are resolved (``media.resolve``), probed and checked
   against what they hold; problems point into the spec file.
3. With data rows: every row fills the placeholders (``fill``); a missing value, a text
   that breaks its rules once filled, or a media path built from the row that is refused
   is a problem at that row of the data file, saying where in the spec it is used.
   Probing happens once per distinct file, not once per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rendercli.spec import fill as filling
from rendercli.spec import media
from rendercli.spec.loader import FieldPath, LoadedSpec, load_spec
from rendercli.spec.problems import Problem, SpecInvalid
from rendercli.spec.rows import DataRows, Row


@dataclass
class FileReport:
    file: str
    problems: list[Problem] = field(default_factory=list)
    timeline_items: int = 0
    music_items: int = 0
    placeholders: tuple[str, ...] = ()  # field names the spec uses
    rows_checked: int = 0

    @property
    def valid(self) -> bool:
        return not self.problems


def validate_file(path: Path, *, display: str | None = None, rows: DataRows | None = None,
                  allow_outside: bool = False, prober: media.Prober | None = None) -> FileReport:
    """Every problem of the spec at ``path`` (and of each data row, if given)."""
    try:
        loaded = load_spec(path, display)
    except SpecInvalid as exc:
        return FileReport(display or exc.problems[0].file, list(exc.problems))
    return validate_loaded(loaded, rows=rows, allow_outside=allow_outside,
                           prober=prober or media.Prober())


def validate_loaded(loaded: LoadedSpec, *, rows: DataRows | None, allow_outside: bool,
                    prober: media.Prober) -> FileReport:
    spec = loaded.spec
    sites = filling.template_sites(spec)
    names = tuple(dict.fromkeys(name for site in sites for name in site.fields))
    report = FileReport(loaded.file, timeline_items=len(spec.timeline),
                        music_items=len(spec.music), placeholders=names)

    def at_spec(where: FieldPath, message: str) -> None:
        report.problems.append(loaded.problem(where, message))

    resolved = media.resolve_all(spec, loaded.base_dir, at_spec, allow_outside=allow_outside)
    media.check_media(spec, resolved, prober, at_spec)
    if rows is not None:
        _check_rows(loaded, sites, rows, report, resolved, allow_outside, prober)
    report.problems = sorted(set(report.problems), key=_order)
    return report


def _order(problem: Problem) -> tuple[object, ...]:
    # The spec file's own problems first, then the data rows' in row order.
    return (problem.row is not None, problem.file, problem.row or 0, problem.line,
            problem.column, problem.message)


def _check_rows(loaded: LoadedSpec, sites: list[filling.Site], rows: DataRows,
                report: FileReport, fixed: dict[FieldPath, Path], allow_outside: bool,
                prober: media.Prober) -> None:
    missing = [n for n in report.placeholders if n not in rows.columns]
    if missing:
        fields = ", ".join(rows.columns) or "none"
        for site in sites:
            for name in site.fields:
                if name in missing:
                    report.problems.append(loaded.problem(
                        site.path, f"no value for {{{{ {name} }}}}: {rows.file} has no field "
                                   f"{name!r} (its fields: {fields})"))
        return
    paths = dict(media.path_fields(loaded.spec))
    path_sites = {s.path for s in sites if s.fields and s.path in paths}
    dependent = {p[:2] for p in path_sites}  # items whose media comes from the row
    for row in rows.rows:
        _check_row(loaded, sites, rows, row, report, path_sites, dependent, fixed,
                   allow_outside, prober)
    report.rows_checked = len(rows.rows)


def _check_row(loaded: LoadedSpec, sites: list[filling.Site], rows: DataRows, row: Row,
               report: FileReport, path_sites: set[FieldPath], dependent: set[FieldPath],
               fixed: dict[FieldPath, Path], allow_outside: bool, prober: media.Prober) -> None:
    def at_row(where: FieldPath, message: str) -> None:
        spot = loaded.position(where)
        report.problems.append(rows.problem(
            row, f"{message} (used at {loaded.file}:{spot.line}:{spot.column})"))

    filled = filling.fill(loaded, sites, row.values, lambda site, msg: at_row(site.path, msg))
    if filled is None or not path_sites:
        return
    resolved = dict(fixed)
    for where in path_sites:
        try:
            resolved[where] = media.resolve(loaded.base_dir, media.spec_text(filled, where),
                                            allow_outside=allow_outside)
        except ValueError as exc:
            at_row(where, str(exc))
    if not path_sites <= resolved.keys():
        return

    def row_dependent(where: FieldPath, message: str) -> None:
        # Items whose media is fixed were checked once, against the spec file.
        if where[:2] in dependent or (
            where[-1] == "transition" and ("timeline", int(where[1]) + 1) in dependent
        ):
            at_row(where, message)

    media.check_media(filled, resolved, prober, row_dependent)
