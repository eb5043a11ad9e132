"""Bytes moving into a file that only appears, under its final name, once verified."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from rendercli import storage
from rendercli.errors import Conflict, ObjectCorrupt, OperationFailed

Progress = Callable[[int], None]  # called with each number of bytes moved
CHUNK = 1024 * 1024


def write_verified(name: str, source: BinaryIO, tmp: Path, *, sha256: str | None,
                   progress: Progress | None = None) -> int:
    """Copy ``source`` into the new file ``tmp`` (fsynced), hashing as it goes; returns the
    size. ObjectCorrupt (and ``tmp`` removed) when the bytes do not hash to ``sha256``."""
    digest = hashlib.sha256()
    size = 0
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
                if progress is not None:
                    progress(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if sha256 is not None and digest.hexdigest() != sha256:
            raise ObjectCorrupt(
                f"object {name} is corrupt: its bytes hash to {digest.hexdigest()}, not "
                f"{sha256}; refused, nothing kept"
            )
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return size


def copy_verified(name: str, source: BinaryIO, dest: Path, *, sha256: str | None,
                  progress: Progress | None = None) -> None:
    """Write ``source`` to ``dest``, a new regular file (Conflict if anything is there),
    through a temporary name in the same directory: ``dest`` appears only once complete
    and verified."""
    tmp = dest.with_name(f".{dest.name}.part-{secrets.token_hex(5)}")
    try:
        write_verified(name, source, tmp, sha256=sha256, progress=progress)
    except OSError as exc:
        raise OperationFailed(f"cannot write {dest}: {exc.strerror or exc}") from None
    try:
        os.link(tmp, dest)  # never replaces: a file that appeared meanwhile stays
    except FileExistsError:
        raise Conflict(f"{dest} exists; nothing was written") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def publish_into_place(tmp: Path, final: Path) -> None:
    """Move the verified ``tmp`` to ``final`` atomically (a rename in one directory)."""
    os.replace(tmp, final)
    storage.fsync_dir(final.parent)
