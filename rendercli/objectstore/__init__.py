"""The object store: one interface over the storage directory and an S3 bucket.

Every machine keeps its storage directory (``RENDERCLI_STORAGE_DIR``) with the usual
layout, and the engine reads and writes canonical local paths as always. With
``RENDERCLI_STORAGE_URL=s3://BUCKET/PREFIX`` the bucket is the farm's source of truth and
the local directory a bounded read-through cache of it. Code touches the bucket only at
its boundaries, through :class:`ObjectStore` (from :func:`open_store`, or ``App.store()``):

- ``publish`` after a file is at its canonical local path (create-only upload),
- ``localize`` before a file is read (fetch, verify, then make it visible),
- ``download`` / ``url`` to hand a job's output to a person.

Names and their local paths: :mod:`rendercli.objectstore.names`. boto3 is imported only
by the S3 backend, when a command or worker first touches a bucket.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rendercli.objectstore.names import check_name, local_path, name_digest, object_name
from rendercli.objectstore.transfer import Progress

if TYPE_CHECKING:
    from rendercli.config import Settings

__all__ = ["ObjectStore", "Progress", "check_name", "local_path", "name_digest",
           "object_name", "open_store"]


class ObjectStore(Protocol):
    """Where the farm's objects live: the local directory or a bucket."""

    remote: bool  # False for the local directory, True for a bucket
    storage_dir: Path

    def publish(self, name: str, path: Path, *, progress: Progress | None = None) -> int:
        """Make the local file ``path`` (at its canonical local path, already hashed)
        available to the farm under ``name``. Create-only: an existing object is left
        alone, never replaced. Returns the bytes uploaded (0 when already there)."""
        ...

    def localize(self, name: str, *, sha256: str | None = None) -> Path:
        """The canonical local path of ``name``, fetched into the read-through cache if
        missing and verified (against ``sha256``, or the name itself for objects/) before
        it becomes visible: ObjectCorrupt on a mismatch (nothing cached), ObjectMissing
        when it is nowhere. A name that promises no hash, given none (a segment's .json
        sidecar), is not checked: its caller validates what it reads."""
        ...

    def localized(self, wanted: Mapping[str, str | None]
                  ) -> AbstractContextManager[dict[str, Path]]:
        """``localize`` every name in ``wanted`` (name -> expected SHA-256 or None) and
        keep them from eviction until the block ends: ``with store.localized({...}) as
        paths:``. A worker holds its inputs so while the engine reads them."""
        ...

    def exists(self, name: str) -> bool:
        """True if the store holds ``name``."""
        ...

    def remove(self, name: str, *, reason: str) -> bool:
        """Delete ``name`` (recorded in deletions.log first); True if it existed."""
        ...

    def download(self, name: str, dest: Path, *, sha256: str | None,
                 progress: Progress | None = None) -> None:
        """Write ``name``'s bytes to ``dest`` (a new file; verified against ``sha256``
        before it appears under that name)."""
        ...

    def url(self, name: str, *, expires: int) -> str:
        """A link to ``name``: a presigned GET valid ``expires`` seconds (a bucket), a
        ``file://`` URI (the local directory)."""
        ...


def open_store(settings: Settings) -> ObjectStore:
    """The store the settings name: the bucket of RENDERCLI_STORAGE_URL, else the local
    storage directory."""
    if settings.storage_url is None:
        from rendercli.objectstore.local import LocalStore

        return LocalStore(settings.storage_dir)
    from rendercli.objectstore.s3 import S3Store

    return S3Store.from_settings(settings)
