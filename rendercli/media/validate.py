"""Checks on an input file before anything reads its content, and safe names for messages.

File names are data: they are opened with os.open (never handed to a shell or to ffmpeg's
option parser), so names starting with ``-``, with newlines or with non-UTF-8 bytes work.
"""

from __future__ import annotations

import errno
import os
import stat
import unicodedata
from pathlib import Path

from rendercli.errors import InvalidInput
from rendercli.storage import format_size

MAX_DISPLAY_NAME = 200  # characters
# Unicode categories that must not reach a terminal or a log line: controls, format
# characters (bidi overrides can disguise an extension), line/paragraph separators, surrogates.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def safe_display_name(path: Path | str | bytes) -> str:
    """The file's base name as one printable line, for messages and as a stored name.

    Undecodable bytes become U+FFFD, control and format characters become ``?``,
    and very long names are shortened with an ellipsis.
    """
    raw = os.fsencode(path)
    base = os.path.basename(raw.rstrip(b"/")) or raw
    text = base.decode("utf-8", errors="replace")
    cleaned = "".join(
        "?" if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch for ch in text
    ).strip()
    if not cleaned:
        return "(unnamed)"
    if len(cleaned) > MAX_DISPLAY_NAME:
        cleaned = cleaned[: MAX_DISPLAY_NAME - 1] + "\u2026"
    return cleaned


def open_regular_file(
    path: Path, *, display_name: str, max_file_size: int | None = None
) -> tuple[int, int]:
    """Open ``path`` read-only after checking it is a non-empty regular file within the limit.

    Returns ``(fd, size)``; the caller closes the descriptor. The checks run on the open
    descriptor (fstat), so the file cannot be swapped between the check and the read.
    Raises InvalidInput naming the file for every rejection.
    """
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InvalidInput(f"{display_name}: no such file") from None
    except PermissionError:
        raise InvalidInput(f"{display_name}: permission denied") from None
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise InvalidInput(f"{display_name}: no such file") from None
        if exc.errno == errno.ELOOP:
            raise InvalidInput(f"{display_name}: too many levels of symbolic links") from None
        raise InvalidInput(f"{display_name}: cannot open ({exc.strerror})") from None
    try:
        size = _check_open_file(fd, display_name=display_name, max_file_size=max_file_size)
        # Back to blocking reads: for a regular file this only matters on odd filesystems.
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, size


def _check_open_file(fd: int, *, display_name: str, max_file_size: int | None) -> int:
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        raise InvalidInput(f"{display_name}: is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{display_name}: not a regular file")
    if st.st_size == 0:
        raise InvalidInput(f"{display_name}: file is empty")
    if max_file_size is not None and st.st_size > max_file_size:
        raise InvalidInput(
            f"{display_name}: file is {format_size(st.st_size)}, "
            f"above the {format_size(max_file_size)} limit"
        )
    return st.st_size


def check_file(path: Path, *, display_name: str, max_file_size: int | None = None) -> int:
    """Check ``path`` is a readable, non-empty regular file within the size limit; its size.

    Opens the file to prove it is readable (and closes it without reading any content).
    """
    fd, size = open_regular_file(path, display_name=display_name, max_file_size=max_file_size)
    os.close(fd)
    return size
