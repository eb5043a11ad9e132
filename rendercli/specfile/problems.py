"""A problem found in a spec or data file, with where it is."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rendercli.errors import InvalidInput, did_you_mean


@dataclass(frozen=True, order=True)
class Problem:
    """One error: ``FILE:LINE:COL: message``. Line and column are 1-based (characters);
    0 means the problem is with the file as a whole (``FILE: message``)."""

    file: str
    line: int
    column: int
    message: str
    row: int | None = None  # 1-based data row, for batch problems

    def __str__(self) -> str:
        if not self.line:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


@dataclass(frozen=True)
class Position:
    """Where a value starts in its file."""

    line: int
    column: int


class SpecInvalid(InvalidInput):
    """One or more problems; the message is the first, ``problems`` holds them all."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        assert problems, "SpecInvalid needs at least one problem"
        self.problems = list(problems)
        self.partial: object = None  # loader.PartialSpec: what parsed, of a spec file
        more = len(self.problems) - 1
        super().__init__(str(self.problems[0]) + (f" (and {more} more)" if more else ""))


def display_path(path: object) -> str:
    """A path as the user gave it, made safe for one terminal line."""
    text = os.fsdecode(path)  # type: ignore[arg-type]
    return "".join(
        "\ufffd" if "\ud800" <= ch <= "\udfff"
        else "?" if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
        else ch
        for ch in text
    )


def read_source(path: Path, display: str, max_bytes: int) -> tuple[bytes | None, list[Problem]]:
    """The bytes of a spec or data file, or a problem: missing, not a regular file, empty,
    larger than ``max_bytes`` (checks shared with media files)."""
    from rendercli.media.validate import open_regular_file

    try:
        fd, _size = open_regular_file(path, display_name=display, max_file_size=max_bytes)
    except InvalidInput as exc:
        reason = exc.message.removeprefix(display + ": ")
        if reason == "file is empty":
            return None, [Problem(display, 1, 1, "the file is empty")]
        return None, [Problem(display, 0, 0, reason)]
    with os.fdopen(fd, "rb") as handle:
        return handle.read(max_bytes + 1), []


suggest = did_you_mean  # the spec checks' name for it (one home: rendercli.errors)
