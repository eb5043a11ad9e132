"""The upload progress bar of `asset add`, `apply` and `render batch` with a bucket:
`uploading 3 files ━━━━━ 45 % 120.0 MB/s` on stderr, on a terminal only (piped: nothing,
and rich is not even imported)."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

from rendercli.cli import output

if TYPE_CHECKING:
    from rendercli.services.uploads import Uploaded


class UploadBar:
    """An UploadProgress drawing a transient rich bar (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._progress: Any = None
        self._task: Any = None

    def begin(self, files: int, total: int) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TransferSpeedColumn,
        )

        noun = "file" if files == 1 else "files"
        with self._lock:
            self._progress = Progress(
                TextColumn(f"uploading {files} {noun}"), BarColumn(), TaskProgressColumn(),
                TransferSpeedColumn(), console=output.stderr_console(), transient=True)
            self._progress.start()
            self._task = self._progress.add_task("upload", total=max(total, 1))

    def advance(self, done: int) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.advance(self._task, done)

    def end(self, uploaded: Uploaded | None) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None


def upload_bar(*, json_output: bool = False) -> UploadBar | None:
    """A bar when stderr is a terminal (and the output is not JSON), else None."""
    return UploadBar() if sys.stderr.isatty() and not json_output else None
