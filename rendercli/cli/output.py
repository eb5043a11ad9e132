"""Everything the CLI prints: JSON documents, tables, key/value blocks and error lines.

Human output is a rich table on a terminal and tab-separated text when piped (no
header, like `gh`), so it stays greppable. Colour follows rich, which honours NO_COLOR.

Everything shown comes from data (project names, file names, errors, logs), so nothing
here ever reads rich markup: table cells are built as rich Text objects (`cell`), and
control characters (ESC, DEL, C1, stray line breaks) are shown escaped (`visible`), so
a name can neither break a table nor drive the terminal.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table
    from rich.text import Text

# rich is imported inside the functions that draw with it: importing rich.console costs
# ~30 ms, and `rendercli --help`, `--version` and piped output never need it.


def stdout_console() -> Console:
    from rich.console import Console

    return Console(soft_wrap=True, highlight=False)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, highlight=False)


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


# C0 controls (ESC among them), DEL and C1 controls (U+009B is a one-byte CSI), and the
# Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_EXCEPT_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char in "\t\n":
        return " "
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, keep_lines: bool = False) -> str:
    """`text` safe for a terminal: tabs and newlines become spaces (kept with
    `keep_lines`), every other control character is shown escaped, e.g. `\\x1b`."""
    pattern = _CONTROL_EXCEPT_LINES if keep_lines else _CONTROL
    return pattern.sub(_escaped, text)


def cell(value: Any, style: str | None = None) -> RenderableType:
    """A table cell from data: plain text that rich never parses as markup. Rich
    renderables (a progress bar, an already built Text) pass through."""
    from rich.text import Text

    if hasattr(value, "__rich_console__") or hasattr(value, "__rich__"):
        return value  # type: ignore[no-any-return]
    return Text(visible(human(value)), style=style or "")


def text(value: str, style: str | None = None) -> Text:
    """A line of data for console.print, never read as markup."""
    from rich.text import Text

    return Text(visible(value, keep_lines=True), style=style or "")


def data_table(columns: Sequence[str]) -> Table:
    """An empty borderless table with these headers (add rows made of `cell`s)."""
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:
        table.add_column(cell(column))
    return table


def iso(value: datetime | None) -> str | None:
    """ISO-8601 UTC with a Z suffix."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def jsonable(value: Any) -> Any:
    """Convert views (dataclasses), datetimes and paths into JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def print_json(value: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(jsonable(value), indent=2, ensure_ascii=False) + "\n")


def print_json_line(value: Any) -> None:
    """One compact JSON object per line (NDJSON), flushed at once."""
    sys.stdout.write(json.dumps(jsonable(value), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def human(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _plain(value: Any) -> str:
    # Piped output keeps machine-friendly values: ISO timestamps, no padding.
    if isinstance(value, datetime):
        return iso(value) or ""
    return "" if value is None else visible(human(value))


ID_COLUMNS = frozenset({"ID", "JOB"})


def print_table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], *, empty: str | None = None
) -> None:
    """A rich table on a terminal; tab-separated rows without a header when piped."""
    rows = list(rows)
    if not stdout_is_tty():
        for row in rows:
            sys.stdout.write("\t".join(_plain(v) for v in row) + "\n")
        return
    console = stdout_console()
    if not rows and empty:
        console.print(text(empty))
        return
    table = data_table(columns)
    for index, column in enumerate(table.columns):
        # Ids are what other commands take: never cut them short, let other columns wrap.
        if columns[index] in ID_COLUMNS:
            column.no_wrap = True
            column.min_width = max((len(visible(human(row[index]))) for row in rows), default=0)
    for row in rows:
        table.add_row(*(cell(v) for v in row))
    console.print(table)


def print_fields(fields: Sequence[tuple[str, Any]]) -> None:
    """`key: value` lines for one object."""
    width = max((len(k) for k, _ in fields), default=0)
    for key, value in fields:
        shown = _plain(value) if not stdout_is_tty() else visible(human(value))
        sys.stdout.write(f"{key + ':':<{width + 1}} {shown}\n")


def result(value: Any, as_json: bool, message: str) -> None:
    """A command's outcome: `value` as one JSON document, or `message` for people."""
    if as_json:
        print_json(value)
    else:
        say(message)


def say(message: str) -> None:
    """A human message on stdout."""
    sys.stdout.write(visible(message, keep_lines=True) + "\n")


def note(message: str) -> None:
    """A side remark on stderr (keeps stdout clean for data)."""
    sys.stderr.write(visible(message, keep_lines=True) + "\n")


def error_line(message: str) -> None:
    """The one line a failure prints on stderr."""
    first = " ".join(message.strip().split("\n")) if message else "unknown error"
    sys.stderr.write(f"error: {visible(first)}\n")
    sys.stderr.flush()
