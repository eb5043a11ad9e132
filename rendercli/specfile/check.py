"""``rendercli spec validate``: a spec file checked completely, optionally for every data row.

1. The file is read and checked against the format (``loader``).
2. Media paths without placeholders are resolved (``media.resolve``), probed and checked
   against what they hold; problems point into the spec file.
3. With data rows: every row fills the placeholders (``fill``); a missing value, a text
   that breaks its rules once filled, or a media path built from the row that is refused
   is a problem at that row of the data file, saying where in the spec it is used.
   Probing happens once per distinct file, not once per row.
   A number given by a placeholder (``duration: "{{ seconds }}"``) is read and checked
   once a row fills it in, with the same bounds and rules as a number in the file, and
   so are the checks against the media of its item.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rendercli.specfile import fill as filling
from rendercli.specfile import media
from rendercli.specfile.batch_rows import DataRows, Row
from rendercli.specfile.loader import FieldPath, LoadedSpec, PartialSpec, load_spec
from rendercli.specfile.problems import Problem, SpecInvalid
from rendercli.specfile.shapes import Str
from rendercli.specfile.template import has_placeholders, substitute


@dataclass
class FileReport:
    file: str
    problems: list[Problem] = field(default_factory=list)
    timeline_items: int = 0
    music_items: int = 0
    placeholders: tuple[str, ...] = ()  # field names the spec uses
    numbers_per_row: tuple[str, ...] = ()  # keys of numbers the rows fill in (duration)
    rows_checked: int = 0
    values_checked: bool = False  # placeholders filled from --set and checked

    @property
    def valid(self) -> bool:
        return not self.problems


def validate_file(path: Path, *, display: str | None = None, rows: DataRows | None = None,
                  values: Mapping[str, str] | None = None, allow_outside: bool = False,
                  prober: media.Prober | None = None) -> FileReport:
    """Every problem of the spec at ``path`` (and of each data row, or of the spec filled
    from ``values`` (``--set``), if given)."""
    prober = prober or media.Prober()
    try:
        loaded = load_checked(path, display, allow_outside=allow_outside, prober=prober)
    except SpecInvalid as exc:
        return FileReport(display or exc.problems[0].file, list(exc.problems))
    return validate_loaded(loaded, rows=rows, values=values, allow_outside=allow_outside,
                           prober=prober)


def load_checked(path: Path, display: str | None = None, *, allow_outside: bool = False,
                 prober: media.Prober | None = None) -> LoadedSpec:
    """``load_spec``, but a spec with format errors also has the media of the parts
    that did parse checked (missing, outside the folder, not media), so one run reports
    both; SpecInvalid with every problem."""
    try:
        return load_spec(path, display)
    except SpecInvalid as exc:
        raise with_media_problems(exc, allow_outside, prober or media.Prober()) from None


def with_media_problems(exc: SpecInvalid, allow_outside: bool,
                        prober: media.Prober) -> SpecInvalid:
    """``exc`` with the problems of the media paths that parsed added (kinds and lengths
    against the items need whole items, so they wait for a spec without format errors)."""
    partial = exc.partial
    if not isinstance(partial, PartialSpec):
        return exc
    found = list(exc.problems)
    for where, text in partial.paths:
        if has_placeholders(text) or media.STORED_REF.fullmatch(text):
            continue
        try:
            path = media.resolve(partial.base_dir, substitute(text, {}),
                                 allow_outside=allow_outside)
        except ValueError as reason:
            found.append(partial.problem(where, str(reason)))
            continue
        info = None if where[-1] == "font" else prober(path)
        if isinstance(info, str):
            found.append(partial.problem(where, f"{text!r}: {info}"))
    error = SpecInvalid(sorted(set(found)))
    error.partial = partial
    return error


def validate_loaded(loaded: LoadedSpec, *, rows: DataRows | None, allow_outside: bool,
                    prober: media.Prober, values: Mapping[str, str] | None = None
                    ) -> FileReport:
    spec = loaded.spec
    sites = filling.template_sites(spec)
    names = tuple(dict.fromkeys(name for site in sites for name in site.fields))
    numbers = tuple(dict.fromkeys(str(site.path[-1]) for site in sites
                                  if not isinstance(site.shape, Str)))
    report = FileReport(loaded.file, timeline_items=len(spec.timeline),
                        music_items=len(spec.music), placeholders=names,
                        numbers_per_row=numbers)

    def at_spec(where: FieldPath, message: str) -> None:
        report.problems.append(loaded.problem(where, message))

    resolved = media.resolve_all(spec, loaded.base_dir, at_spec, allow_outside=allow_outside)
    waiting = {site.path[:2] for site in sites if not isinstance(site.shape, Str)}
    media.check_media(spec, resolved, prober, at_spec, waiting)
    if rows is not None:
        _check_rows(loaded, sites, rows, report, resolved, allow_outside, prober)
    elif values is not None:
        report.problems += unknown_fields(loaded, names, values)

        def at_set(where: FieldPath, message: str) -> None:
            at_spec(where, with_set_hint(message))

        path_sites, dependent = _row_paths(loaded, sites)
        _check_filled(loaded, sites, values, at_set, path_sites, dependent, resolved,
                      allow_outside, prober)
        report.values_checked = True
    report.problems = sorted(set(report.problems), key=_order)
    return report


MISSING = "no value for {{ "


def with_set_hint(message: str) -> str:
    """A missing placeholder's message, saying how to give it a value outside a batch."""
    if not message.startswith(MISSING):
        return message
    name = message[len(MISSING):].partition(" }}")[0]
    return (f"{message}: give it with --set {name}=VALUE (or fill rows with "
            "`rendercli render batch --data ROWS`)")


def unknown_fields(loaded: LoadedSpec, names: tuple[str, ...] | list[str],
                   values: Mapping[str, str]) -> list[Problem]:
    """A problem for each ``--set`` field the spec has no placeholder for (a typo)."""
    used = ", ".join(names) or "none"
    return [Problem(loaded.file, 0, 0, f"--set {name}: the spec has no placeholder "
                                       f"{{{{ {name} }}}} (its placeholders: {used})")
            for name in values if name not in names]


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
    path_sites, dependent = _row_paths(loaded, sites)
    for row in rows.rows:
        def at_row(where: FieldPath, message: str, row: Row = row) -> None:
            spot = loaded.position(where)
            report.problems.append(rows.problem(
                row, f"{message} (used at {loaded.file}:{spot.line}:{spot.column})"))

        _check_filled(loaded, sites, row.values, at_row, path_sites, dependent, fixed,
                      allow_outside, prober)
    report.rows_checked = len(rows.rows)


def _row_paths(loaded: LoadedSpec, sites: list[filling.Site]
               ) -> tuple[set[FieldPath], set[FieldPath]]:
    """The media paths built from placeholders, and the items whose media checks depend
    on the row: those paths' items, and the items with a number the row fills in."""
    paths = dict(media.path_fields(loaded.spec))
    path_sites = {s.path for s in sites if s.fields and s.path in paths}
    numbers = {s.path[:2] for s in sites if not isinstance(s.shape, Str)}
    return path_sites, {p[:2] for p in path_sites} | numbers


def _check_filled(loaded: LoadedSpec, sites: list[filling.Site],
                  values: Mapping[str, str | None], at_row: Callable[[FieldPath, str], None],
                  path_sites: set[FieldPath], dependent: set[FieldPath],
                  fixed: dict[FieldPath, Path], allow_outside: bool,
                  prober: media.Prober) -> None:
    """The spec filled from one row's ``values`` (or --set's), checked; problems of what
    the values changed go to ``at_row``."""
    filled = filling.fill(loaded, sites, values, at_row)
    if filled is None:
        # Another field of the row is wrong: its media paths are still checked, so every
        # problem of the row shows at once (an empty value and a missing file, say).
        for site in sites:
            text = filling.filled_text(site, values) if site.path in path_sites else None
            if text is not None:
                try:
                    media.resolve(loaded.base_dir, text, allow_outside=allow_outside)
                except ValueError as exc:
                    at_row(site.path, str(exc))
        return
    if not dependent:
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
