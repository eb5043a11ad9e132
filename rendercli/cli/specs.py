"""spec schema | validate: timelines as files (format reference: docs/spec.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rendercli.cli import output
from rendercli.cli.options import JSON_OPTION, SET_OPTION, noun_app
from rendercli.errors import ExitStatus, InvalidInput
from rendercli.specfile.batch_rows import DataRows, load_rows
from rendercli.specfile.media import Prober
from rendercli.specfile.problems import SpecInvalid, display_path
from rendercli.specfile.schema import schema_text
from rendercli.specfile.template import parse_assignments

if TYPE_CHECKING:
    from rendercli.specfile.check import FileReport
    from rendercli.specfile.problems import Problem

app = noun_app(
    "Timelines as files: check a spec file, or print its JSON Schema.\n\n"
    "Example: rendercli spec validate video.yaml"
)
MAX_PRINTED = 200  # problems printed for people; --json gives them all


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of the spec format.

    Point an editor at it to get completion and checks while writing a spec; a copy
    ships as docs/spec.schema.json.

    Example: rendercli spec schema > spec.schema.json
    """
    sys.stdout.write(schema_text())


@app.command("validate")
def validate(
    files: list[Path] = typer.Argument(
        ..., metavar="FILE", help="Spec files (.yaml, .yml, .json)."),
    data: Path | None = typer.Option(
        None, "--data", metavar="ROWS",
        help="Check every row of a data file (.csv, .json, .ndjson) against the placeholders."),
    allow_outside: bool = typer.Option(
        False, "--allow-outside",
        help="Allow media paths outside the spec file's folder (through .. or a symlink)."),
    set_: list[str] | None = SET_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Check spec files: format, media paths, and the media itself.

    Reports every problem at once as FILE:LINE:COL: message, and exits 2 if there is
    any. Media files are probed with the same checks as `asset add`. With --data, the
    placeholders are filled from each row and checked too, before anything is rendered;
    with --set FIELD=VALUE, from those values (as `apply --set` fills them).

    Example: rendercli spec validate video.yaml --data rows.csv
    """
    from rendercli.specfile.check import FileReport, validate_file

    values = parse_assignments(set_) if set_ else None
    if values is not None and data is not None:
        raise InvalidInput("give --set or --data, not both")
    rows: DataRows | None = None
    reports: list[FileReport] = []
    if data is not None:
        try:
            rows = load_rows(data)
        except SpecInvalid as exc:
            reports.append(FileReport(display_path(data), list(exc.problems)))
    if not reports:
        prober = Prober()  # a file used by several specs is probed once
        reports = [validate_file(path, rows=rows, values=values, allow_outside=allow_outside,
                                 prober=prober) for path in files]
    problems = [p for r in reports for p in r.problems]
    if json_output:
        output.print_json({
            "valid": not problems,
            "files": [{"file": r.file, "valid": r.valid, "timeline_items": r.timeline_items,
                       "music_items": r.music_items, "placeholders": list(r.placeholders),
                       "numbers_per_row": list(r.numbers_per_row),
                       "rows_checked": r.rows_checked} for r in reports],
            "errors": problems,
        })
    else:
        _print_human(reports, problems)
    if problems:
        raise typer.Exit(ExitStatus.INVALID_INPUT)


def _print_human(reports: list[FileReport], problems: list[Problem]) -> None:
    for problem in problems[:MAX_PRINTED]:
        sys.stderr.write(f"{problem}\n")
    if len(problems) > MAX_PRINTED:
        sys.stderr.write(f"... and {len(problems) - MAX_PRINTED} more (--json lists them all)\n")
    for report in reports:
        if not report.valid:
            continue
        parts = [f"{report.timeline_items} timeline item{'s' * (report.timeline_items != 1)}"]
        if report.music_items:
            parts.append(f"{report.music_items} music")
        if report.rows_checked:
            parts.append(f"{report.rows_checked} data row{'s' * (report.rows_checked != 1)}")
        elif report.values_checked:
            parts.append(f"placeholders {', '.join(report.placeholders)} filled from --set")
        elif report.placeholders:
            fields = ", ".join(report.placeholders)
            parts.append(f"placeholders {fields} not checked: give --data ROWS or --set")
            if report.numbers_per_row:
                parts.append(f"{', '.join(report.numbers_per_row)} filled per row, "
                             "checked once filled")
        output.say(f"{report.file}: valid ({'; '.join(parts)})")
    if problems:
        count = len(problems)
        sys.stderr.write(f"{count} problem{'s' * (count != 1)} found\n")
