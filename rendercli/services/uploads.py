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
                    progress: UploadProgress | None = None,
                    just_hashed: bool = False) -> Uploaded:
    """Put every object (SHA-256 -> its canonical local path) in the bucket unless it is
    already there; returns what was sent. Each is checked against its hash first
    (:func:`check_local`), unless ``just_hashed``: the caller has just written (or
    checked) these files and hashed their bytes, which the hash memo then remembers.
    Raises the first failure (StoreUnavailable, StoreAccessDenied, ...) once the uploads
    in flight have stopped."""
    if settings.storage_url is None or not objects:
        return Uploaded()
    if just_hashed:
        remember(objects)
    from rendercli.objectstore import object_name, open_store

    store = open_store(settings)
    sizes = {sha: path.stat().st_size for sha, path in objects.items()}
    if progress is not None:
        progress.begin(len(objects), sum(sizes.values()))

    def one(sha: str) -> int:
        name = object_name(sha)
        sent = 0
        if not store.exists(name):
            check_local(sha, objects[sha])
            sent = store.publish(name, objects[sha],
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


def check_local(sha: str, path: Path) -> None:
    """The local object's bytes hash to ``sha`` (remembered by file identity, so an
    unchanged object is read once): bytes put in the bucket under a hash name stay
    there (creates never replace), so a damaged local copy must never go up."""
    import os

    from rendercli.errors import OperationFailed
    from rendercli.media.hash_memo import default_memo, identity
    from rendercli.storage import file_sha256

    memo = default_memo()
    before = identity(os.stat(path))
    if memo.get(before) == sha:
        return
    digest = file_sha256(path)
    if digest != sha or identity(os.stat(path)) != before:
        raise OperationFailed(
            f"stored object {sha[:12]}\u2026 ({path}) does not match its hash: not uploaded; "
            "add the original file again to restore it")
    memo.put(before, sha)


def remember(objects: Mapping[str, Path]) -> None:
    """Tell the hash memo these files (as they are now) hash to their keys."""
    import os

    from rendercli.media.hash_memo import default_memo, identity

    memo = default_memo()
    for sha, path in objects.items():
        memo.put(identity(os.stat(path)), sha)
