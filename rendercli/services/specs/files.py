"""The files a spec names: opened safely, hashed once, remembered by what they look like.

- **Opened as validated.** ``media.resolve`` gave a real path (symbolic links resolved)
  inside the spec's folder. Between that check and reading, someone could replace a
  folder or the file itself with a symbolic link to a file elsewhere. So each file is
  opened with ``O_NOFOLLOW``, and the real path of the *open* descriptor (Linux:
  ``/proc/self/fd``; elsewhere the file's identity compared with a fresh ``stat``) must
  still be the validated one. Staging for storage reads the same kind of descriptor,
  and the staged copy's SHA-256 must equal the one the plan was made with.
- **Hashed once.** A file's SHA-256 is remembered under its identity (device, inode,
  size, mtime and ctime) in the machine's hash memo (rendercli.media.hash_memo, shared
  with the render engine's check of stored objects): an unchanged file is not read again.
- **Probed once.** The memo also remembers a successful probe (`MediaInfo`) under
  the same identity and the limits it was probed with, so an unchanged spec opens no
  decoder. It only decides whether the spec is valid and what the plan compares: a
  file that has to be stored is probed again, from the stored copy, as `asset add` does.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rendercli.errors import InvalidInput
from rendercli.media.hash_memo import HashMemo, identity

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class FileFacts:
    path: Path  # the validated real path
    sha256: str
    size: int
    hashed: bool  # False: the hash came from the memo


@contextlib.contextmanager
def open_validated(path: Path, shown: str) -> Iterator[tuple[int, os.stat_result]]:
    """Open the validated real ``path`` for reading; InvalidInput (naming ``shown``) if it
    is no longer that regular file, e.g. a symbolic link was swapped in."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidInput(f"{shown}: became a symbolic link after it was checked") from None
        raise InvalidInput(f"{shown}: cannot open ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidInput(f"{shown}: not a regular file")
        if _real_path(fd, path, st) != str(path):
            raise InvalidInput(f"{shown}: its folder changed after it was checked "
                               "(a symbolic link was swapped in)")
        os.set_blocking(fd, True)
        yield fd, st
    finally:
        os.close(fd)


def _real_path(fd: int, path: Path, st: os.stat_result) -> str:
    with contextlib.suppress(OSError):
        return os.readlink(f"/proc/self/fd/{fd}")
    try:  # no /proc: the file now at the path must be the one we hold
        now = os.stat(os.path.realpath(path))
    except OSError:
        return ""
    return str(path) if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino) else ""


def hash_fd(fd: int) -> tuple[str, int]:
    """SHA-256 and size of an open file, read from its start."""
    digest = hashlib.sha256()
    size = 0
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def file_facts(path: Path, shown: str, memo: HashMemo) -> FileFacts:
    """The SHA-256 and size of a validated file, from the memo when it is unchanged."""
    with open_validated(path, shown) as (fd, st):
        before = identity(st)
        known = memo.get(before)
        if known is not None:
            return FileFacts(path, known, st.st_size, hashed=False)
        sha256, size = hash_fd(fd)
        if identity(os.fstat(fd)) == before and size == st.st_size:
            memo.put(before, sha256)  # only a file that held still while read
        return FileFacts(path, sha256, size, hashed=True)
