"""Uploads to the farm's object store: each object only if the bucket lacks it, several
at a time, before any row names it.

`asset add`, `apply` and `render batch` place objects in the storage directory as
always (hashed while copied, or known from the hash memo), then call
:func:`publish_objects` before they insert rows: an asset row exists only once its
object is in the bucket, and a failed upload leaves no row. With the storage directory
alone (no RENDERCLI_STORAGE_URL) this does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rendercli.config import Settings

FILE_WORKERS = 4  # files uploaded at once (each large one also sends parts in parallel)


class UploadProgress(Protocol):
    """Hears an upload's progress (the CLI draws a bar on a terminal). Called from
    several threads: implementations lock what they share."""

    def begin(self, files: int, total: int) -> None:
        """``files`` objects of ``total`` bytes are about to be checked and sent."""
        ...

    def advance(self, done: int) -> None:
        """``done`` more bytes are in the bucket (sent, or found already there)."""
        ...

    def end(self, uploaded: Uploaded | None) -> None:
        """Every object is in the bucket, ``uploaded`` says what was sent (None: the
        upload failed)."""
        ...


@dataclass(frozen=True)
class Uploaded:
    """What an upload did: objects sent and their bytes, objects already there."""

    files: int = 0
    bytes: int = 0
    present: int = 0


def publish_objects(settings: Settings, objects: Mapping[str, Path], *,
                    progress: UploadProgress | None = None) -> Uploaded:
    """Put every object (SHA-256 -> its canonical local path) in the bucket unless it is
    already there; returns what was sent. Raises the first failure (StoreUnavailable,
    StoreAccessDenied, ...) once the uploads in flight have stopped."""
    if settings.storage_url is None or not objects:
        return Uploaded()
    from rendercli.objectstore import object_name, open_store

    store = open_store(settings)
    sizes = {sha: path.stat().st_size for sha, path in objects.items()}
    if progress is not None:
        progress.begin(len(objects), sum(sizes.values()))

    def one(sha: str) -> int:
        sent = store.publish(object_name(sha), objects[sha],
                             progress=progress.advance if progress is not None else None)
        if sent == 0 and progress is not None:
            progress.advance(sizes[sha])  # already there: done without sending
        return sent

    result = None
    try:
        with ThreadPoolExecutor(max_workers=min(FILE_WORKERS, len(objects))) as pool:
            futures = [pool.submit(one, sha) for sha in objects]
            _done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in pending:
                future.cancel()
            sent = [future.result() for future in futures if not future.cancelled()]
        result = Uploaded(files=sum(1 for n in sent if n), bytes=sum(sent),
                          present=sum(1 for n in sent if not n))
        return result
    finally:
        if progress is not None:
            progress.end(result)
