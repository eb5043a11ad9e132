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
from dataclasses import dataclass
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


PLACEHOLDER = "-"  # what every human output shows for an empty field


@dataclass(frozen=True)
class Seconds:
    """A length of time: `11.5 s`, `2 min 05 s` for people; the plain number piped."""

    value: float | None


@dataclass(frozen=True)
class Percent:
    value: float | None


@dataclass(frozen=True)
class Bytes:
    value: int | None


@dataclass(frozen=True)
class Moment:
    """A point in time shown relative to now ("2m ago") in tables."""

    value: datetime | None


def duration_text(seconds: float | None) -> str:
    """`0.4 s`, `11.5 s`, `42 s`, `2 min 05 s`, `1 h 02 min`."""
    if seconds is None:
        return PLACEHOLDER
    if seconds < 10:
        return f"{max(0.0, seconds):.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def percent_text(value: float | None) -> str:
    return PLACEHOLDER if value is None else f"{value:.0f} %"


def bytes_text(size: int | None) -> str:
    """`830 B`, `13.6 MB`, `1.2 GB` (powers of 1000, like file managers)."""
    if size is None:
        return PLACEHOLDER
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def timestamp_text(value: datetime) -> str:
    """The one human timestamp format: `2026-11-24 21:22:07 UTC`."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def relative_text(value: datetime, now: datetime | None = None) -> str:
    """`just now`, `45s ago`, `2m ago`, `3h ago`, `5d ago`, `in 29d`; a date past 60 days."""
    now = now or datetime.now(UTC)
    delta = (now - value.astimezone(UTC)).total_seconds()
    ahead = delta < 0
    span = abs(delta)
    if span < 5:
        return "just now"
    if span >= 60 * 86400:
        return value.astimezone(UTC).strftime("%Y-%m-%d")
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if span >= size:
            amount = int(span // size)
            return f"in {amount}{unit}" if ahead else f"{amount}{unit} ago"
    return "just now"  # pragma: no cover


def human(value: Any) -> str:
    """A value as people read it: units, one timestamp format, one placeholder."""
    if value is None:
        return PLACEHOLDER
    if isinstance(value, Seconds):
        return duration_text(value.value)
    if isinstance(value, Percent):
        return percent_text(value.value)
    if isinstance(value, Bytes):
        return bytes_text(value.value)
    if isinstance(value, Moment):
        return PLACEHOLDER if value.value is None else relative_text(value.value)
    if isinstance(value, datetime):
        return f"{timestamp_text(value)} ({relative_text(value)})"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _plain(value: Any) -> str:
    # Piped output keeps machine-friendly values: ISO timestamps, bare numbers (seconds,
    # percent, bytes), empty for nothing, no padding.
    if isinstance(value, Seconds | Percent | Bytes | Moment):
        value = value.value
    if isinstance(value, datetime):
        return iso(value) or ""
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return "" if value is None else visible(human(value))


GAP = 2  # spaces between table columns
MIN_FLEX = 8  # a name column is never cut below this
MIN_ID = 7  # ids are shortened to a unique prefix of at least this many characters
MIN_DETAIL = 12  # a detail column (effects, workers) is cut to this before a name is
ELLIPSIS = "\u2026"


def unique_prefix_length(values: Iterable[str], minimum: int = MIN_ID) -> int:
    """How many leading characters tell these ids apart (at least `minimum`), as git
    shortens commit hashes: one more than the longest prefix two of them share."""
    from itertools import pairwise

    def shared(left: str, right: str) -> int:
        return next((n for n, (a, b) in enumerate(zip(left, right, strict=False)) if a != b),
                    min(len(left), len(right)))

    ordered = sorted(set(values))
    return max([minimum, *(shared(a, b) + 1 for a, b in pairwise(ordered))])


def cut(value: str, width: int) -> str:
    """`value` in at most `width` terminal cells, ending with "…" when cut (wide CJK
    characters count two)."""
    from rich.cells import cell_len, set_cell_size

    if cell_len(value) <= width:
        return value
    if width <= 1:
        return ELLIPSIS[:width]
    return set_cell_size(value, width - 1).rstrip() + ELLIPSIS


@dataclass(frozen=True)
class Layout:
    """Which columns a table shows and how wide each is, fitted to a terminal."""

    shown: list[int]  # column indexes, in order
    widths: dict[int, int]  # cells per shown column
    short_ids: dict[int, int]  # id columns shortened: characters kept

    def cells(self, row: Sequence[str]) -> list[str]:
        """A row's shown cells, ids shortened and long text cut to the column."""
        return [row[i][: self.short_ids[i]] if i in self.short_ids else cut(row[i], self.widths[i])
                for i in self.shown]


def fit_table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int, *,
              ids: Sequence[int] = (), names: Sequence[int] = (),
              details: Sequence[int] = (), optional: Sequence[int] = (),
              stretch: int | None = None, stretch_max: int = 0) -> Layout:
    """The one layout of every table on a terminal `width` cells wide: no row wraps.

    While the table is too wide, in this order: `ids` are shortened to a unique prefix
    (at least MIN_ID characters, as git does); `details` (effects, workers) are cut to
    MIN_DETAIL; `optional` columns are dropped in the order given; `names` are cut with
    "…" last (never below MIN_FLEX); on a very narrow terminal the rightmost columns go. A
    `stretch` column (a progress bar) takes spare room up to `stretch_max`."""
    from rich.cells import cell_len

    natural = [max([cell_len(h), *(cell_len(r[i]) for r in rows)])
               for i, h in enumerate(headers)]
    widths = dict(enumerate(natural))
    shown = list(range(len(headers)))
    short_ids: dict[int, int] = {}

    def total() -> int:
        return sum(widths[i] for i in shown) + GAP * (len(shown) - 1)

    for i in ids:
        if total() <= width:
            break
        keep = unique_prefix_length(r[i] for r in rows)
        if keep < natural[i]:
            short_ids[i] = keep
            widths[i] = max(cell_len(headers[i]), keep)
    for i in details:
        if total() > width:
            widths[i] = max(cell_len(headers[i]), min(natural[i], MIN_DETAIL),
                            min(natural[i], widths[i] - (total() - width)))

    def floor(i: int) -> int:
        return max(cell_len(headers[i]), min(natural[i], MIN_FLEX)) if i in names \
            else widths[i]

    def least() -> int:
        return sum(floor(i) for i in shown) + GAP * (len(shown) - 1)

    for i in optional:
        if total() <= width:
            break
        shown.remove(i)
    while least() > width and len(shown) > 1:  # a very narrow terminal
        shown.pop()
    for i in names:
        if i in shown and total() > width:
            widths[i] = max(floor(i), widths[i] - (total() - width))
    # Room left once columns were dropped goes back to cut details, then to whole ids.
    for i in details:
        if i in shown:
            widths[i] = min(natural[i], widths[i] + max(0, width - total()))
    for i in ids:
        if i in short_ids and natural[i] - widths[i] <= width - total():
            widths[i] = natural[i]
            del short_ids[i]
    if stretch is not None and stretch in shown:
        widths[stretch] = min(max(widths[stretch], stretch_max),
                              widths[stretch] + max(0, width - total()))
    return Layout(shown, {i: widths[i] for i in shown}, short_ids)


def _indexes(columns: Sequence[str], names: Iterable[str]) -> list[int]:
    return [columns.index(c) for c in names if c in columns]


ID_COLUMNS = ("ID", "JOB")  # shortened first when a table is too wide
NAME_COLUMNS = ("PROJECT", "NAME", "TEXT")  # cut last
DETAIL_COLUMNS = ("EFFECTS", "WORKER")  # long lists: cut before columns are dropped


def layout_for(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int, *,
               optional: Sequence[str] = ()) -> Layout:
    """`fit_table` with each column's role known by its header."""
    return fit_table(columns, rows, width, ids=_indexes(columns, ID_COLUMNS),
                     names=_indexes(columns, NAME_COLUMNS),
                     details=_indexes(columns, DETAIL_COLUMNS),
                     optional=_indexes(columns, optional))


def fitted_table(columns: Sequence[str], layout: Layout) -> Table:
    """An empty table with `layout`'s columns at their fitted widths (never wrapping)."""
    table = data_table([columns[i] for i in layout.shown])
    for column, index in zip(table.columns, layout.shown, strict=True):
        column.no_wrap = True
        column.overflow = "ellipsis"
        column.min_width = column.max_width = layout.widths[index]
    return table


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    empty: str | None = None,
    optional: Sequence[str] = (),
) -> None:
    """A rich table on a terminal; tab-separated rows without a header when piped
    (complete: full ids, nothing cut).

    On a terminal the table is fitted to the window by `fit_table`: ids shortened to a
    unique prefix first, then details cut, `optional` columns dropped (in that order),
    names cut with "…" last. Nothing wraps."""
    rows = list(rows)
    if not stdout_is_tty():
        for row in rows:
            sys.stdout.write("\t".join(_plain(v) for v in row) + "\n")
        return
    console = stdout_console()
    if not rows and empty:
        console.print(text(empty))
        return
    shown_rows = [[visible(human(v)) for v in row] for row in rows]
    layout = layout_for(columns, shown_rows, console.width, optional=optional)
    table = fitted_table(columns, layout)
    for row in shown_rows:
        table.add_row(*(cell(c) for c in layout.cells(row)))
    console.print(table)


def print_fields(fields: Sequence[tuple[str, Any]]) -> None:
    """`key: value` lines for one object, the same on a terminal and piped: units, one
    timestamp format, `-` for an empty value. (Scripts use --json.)"""
    width = max((len(k) for k, _ in fields), default=0)
    for key, value in fields:
        sys.stdout.write(f"{key + ':':<{width + 1}} {visible(human(value))}\n")


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
