"""Data rows for batch renders: CSV, JSON (a list of objects) or NDJSON (one per line).

Every row becomes a mapping of field name to text (or None: no value). Problems name
the file, the line where the row starts, and the row number (1-based, the header of a
CSV file not counted). A CSV file may start with a BOM and end lines with CRLF.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rendercli.specfile.nodes import INVALID, Node, decode, parse_text
from rendercli.specfile.problems import Problem, SpecInvalid, display_path, read_source

MAX_DATA_BYTES = 200 * 1000**2
MAX_ROWS = 100_000
FORMATS = {".csv": "csv", ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson"}


@dataclass(frozen=True)
class Row:
    number: int  # 1-based
    line: int  # where the row starts in its file
    values: Mapping[str, str | None]


@dataclass(frozen=True)
class DataRows:
    file: str  # as given, for messages
    columns: tuple[str, ...]  # CSV header, or every key seen in JSON rows, in order
    rows: tuple[Row, ...]

    def problem(self, row: Row, message: str) -> Problem:
        return Problem(self.file, row.line, 1, f"row {row.number}: {message}", row.number)


def load_rows(path: Path, display: str | None = None) -> DataRows:
    """Read a data file (format from its extension); SpecInvalid with every problem."""
    file = display or display_path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SpecInvalid([Problem(file, 0, 0, "a data file must be .csv, .json or .ndjson")])
    data, problems = read_source(path, file, MAX_DATA_BYTES)
    if data is not None and len(data) > MAX_DATA_BYTES:
        problems = [Problem(file, 0, 0, f"larger than {MAX_DATA_BYTES // 1000**2} MB")]
    if problems or data is None:
        raise SpecInvalid(problems)
    text, problems = decode(data, file)
    if text is None:
        raise SpecInvalid(problems)
    return rows_from_text(text, file, fmt)


def rows_from_text(text: str, file: str, fmt: str) -> DataRows:
    """Rows from decoded text in ``fmt`` (csv, json or ndjson)."""
    if not text.strip():
        raise SpecInvalid([Problem(file, 1, 1, "the file is empty: expected a header and rows"
                                   if fmt == "csv" else "the file is empty: expected rows")])
    reader = {"csv": _csv_rows, "json": _json_rows, "ndjson": _ndjson_rows}[fmt]
    columns, rows, problems = reader(text, file)
    if not problems and not rows:
        problems = [Problem(file, 1, 1, "no rows: the file has a header but no data"
                            if fmt == "csv" else "no rows: the list is empty")]
    if not problems and len(rows) > MAX_ROWS:
        problems = [Problem(file, 0, 0, f"{len(rows):,} rows; at most {MAX_ROWS:,} per batch")]
    if problems:
        raise SpecInvalid(problems)
    return DataRows(file=file, columns=tuple(columns), rows=tuple(rows))


_Read = tuple[list[str], list[Row], list[Problem]]


def _csv_rows(text: str, file: str) -> _Read:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    problems: list[Problem] = []
    rows: list[Row] = []
    header: list[str] | None = None
    line = 1
    try:
        for record in reader:
            start, line = line, reader.line_num + 1
            if not record:
                continue  # a blank line
            if header is None:
                header = [name.strip() for name in record]
                problems += _check_header(header, file, start)
                continue
            number = len(rows) + 1
            if len(record) > len(header):
                problems.append(Problem(file, start, 1, f"row {number}: {len(record)} values "
                                        f"but the header has {len(header)} columns", number))
            values = dict.fromkeys(header)
            values.update(zip(header, record, strict=False))
            rows.append(Row(number, start, values))
    except csv.Error as exc:
        problems.append(Problem(file, reader.line_num, 1, f"invalid CSV: {exc}"))
    return header or [], rows, problems


def _check_header(header: list[str], file: str, line: int) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for index, name in enumerate(header, 1):
        if not name:
            problems.append(Problem(file, line, 1, f"column {index} of the header has no name"))
        elif name in seen:
            problems.append(Problem(file, line, 1, f"column {name!r} appears twice in the header"))
        seen.add(name)
    return problems


def _value(node: Node) -> tuple[bool, str | None]:
    """A JSON value as row text: strings as they are, numbers and booleans as JSON writes
    them, null as no value. (False, None) for lists and objects."""
    if node.kind != "scalar":
        return False, None
    value = node.value
    if value is None or isinstance(value, str):
        return True, value
    return True, json.dumps(value)


def _row_from_node(node: Node, number: int, file: str, problems: list[Problem],
                   columns: dict[str, None]) -> Row | None:
    if node.kind != "map":
        problems.append(Problem(file, node.line, node.column,
                                f"row {number}: expected an object of field values", number))
        return None
    values: dict[str, str | None] = {}
    for key, value_node in node.value:
        if value_node.kind == "scalar" and value_node.value is INVALID:
            continue  # already reported
        ok, value = _value(value_node)
        if not ok:
            problems.append(Problem(file, value_node.line, value_node.column,
                                    f"row {number}: field {key.value!r} must be text, a number, "
                                    "a boolean or null", number))
            continue
        values[key.value] = value
        columns.setdefault(key.value)
    return Row(number, node.line, values)


def _json_rows(text: str, file: str) -> _Read:
    parsed = parse_text(text, file, syntax="json")
    problems = list(parsed.problems)
    root = parsed.root
    if root is None:
        return [], [], problems
    if root.kind != "seq":
        return [], [], [*problems, Problem(file, root.line, root.column,
                                           "expected a list of objects, one per row")]
    columns: dict[str, None] = {}
    rows = []
    for number, node in enumerate(root.value, 1):
        row = _row_from_node(node, number, file, problems, columns)
        if row is not None:
            rows.append(row)
    return list(columns), rows, problems


def _ndjson_rows(text: str, file: str) -> _Read:
    problems: list[Problem] = []
    columns: dict[str, None] = {}
    rows = []
    # Lines end at LF (or CRLF) only: str.splitlines would also split at U+2028, U+2029
    # and U+0085, which JSON strings may hold unescaped.
    for index, line_text in enumerate(text.split("\n"), 1):
        line_text = line_text.removesuffix("\r")
        if not line_text.strip():
            continue
        number = len(rows) + 1
        parsed = _parse_line(line_text, file, index, number)
        if isinstance(parsed, Problem):
            problems.append(parsed)
            rows.append(Row(number, index, {}))  # keep the numbering of the rows after it
            continue
        row = _row_from_node(parsed, number, file, problems, columns)
        if row is not None:
            rows.append(row)
    return list(columns), rows, problems


def _parse_line(line_text: str, file: str, line: int, number: int) -> Node | Problem:
    parsed = parse_text(line_text, file, syntax="json")
    if parsed.problems or parsed.root is None:
        first: Any = parsed.problems[0] if parsed.problems else None
        column = first.column if first else 1
        message = first.message if first else "an empty line"
        return Problem(file, line, column, f"row {number}: {message}", number)
    root = parsed.root
    _shift_lines(root, line - 1)
    return root


def _shift_lines(node: Node, by: int) -> None:
    node.line += by
    if node.kind == "map":
        for key, value in node.value:
            _shift_lines(key, by)
            _shift_lines(value, by)
    elif node.kind == "seq":
        for item in node.value:
            _shift_lines(item, by)
