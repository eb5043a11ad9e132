"""The files a spec names: opened safely, hashed once, remembered by what they look like.

- **Opened as validated.** ``media.resolve`` gave a real path (symbolic links resolved)
  inside the spec's folder. Between that check and reading, someone could replace a
  folder or the file itself with a symbolic link to a file elsewhere. So each file is
  opened with ``O_NOFOLLOW``, and the real path of the *open* descriptor (Linux:
  ``/proc/self/fd``; elsewhere the file's identity compared with a fresh ``stat``) must
  still be the validated one. Staging for storage reads the same kind of descriptor,
  and the staged copy's SHA-256 must equal the one the plan was made with.
- **Hashed once.** SHA-256 is the identity of media (storage is content-addressed), and
  reading a gigabyte costs most of a second. A small SQLite file in the data directory
  remembers each file's hash under its real path, device, inode, size, mtime and ctime.
  A file whose identity and all of those match is not read again. Any write changes
  mtime and ctime (ctime cannot be set back by a user), so a changed file is hashed
  afresh. The cache is only an accelerator: if it cannot be opened, files are hashed.
- **Probed once.** The same file also remembers a successful probe (`MediaInfo`) under
  the same identity and the limits it was probed with, so an unchanged spec opens no
  decoder. It only decides whether the spec is valid and what the plan compares: a
  file that has to be stored is probed again, from the stored copy, as `asset add` does.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rendercli.errors import InvalidInput

if TYPE_CHECKING:
    from rendercli.media.info import MediaInfo

CHUNK_SIZE = 1024 * 1024
CACHE_FILE = "hash-cache.sqlite3"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS file_hashes (path TEXT PRIMARY KEY, device INTEGER, "
    "inode INTEGER, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, sha256 TEXT)"
)
_PROBE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS file_probes (path TEXT PRIMARY KEY, device INTEGER, "
    "inode INTEGER, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, probed_with TEXT, "
    "info TEXT)"
)


@dataclass(frozen=True)
class Identity:
    """What a file looks like from outside: same identity, same bytes (see module doc)."""

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, path: Path, st: os.stat_result) -> Identity:
        return cls(str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True)
class FileFacts:
    path: Path  # the validated real path
    sha256: str
    size: int
    hashed: bool  # False: the hash came from the cache


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


class HashCache:
    """Remembered hashes, keyed by :class:`Identity` (see module doc). Never raises for
    cache trouble: a broken cache only means more hashing."""

    def __init__(self, file: Path | None) -> None:
        self._db: sqlite3.Connection | None = None
        if file is None:
            return
        try:
            from rendercli.fsmodes import ensure_private_dir, ensure_private_file

            ensure_private_dir(file.parent)
            ensure_private_file(file)
            self._db = sqlite3.connect(file, timeout=5, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute(_SCHEMA)
            self._db.execute(_PROBE_SCHEMA)
        except (OSError, sqlite3.Error):
            self._db = None

    def get(self, identity: Identity) -> str | None:
        if self._db is None:
            return None
        try:
            row = self._db.execute(
                "SELECT device, inode, size, mtime_ns, ctime_ns, sha256 FROM file_hashes "
                "WHERE path = ?", (identity.path,)).fetchone()
        except sqlite3.Error:
            return None
        if row is None or tuple(row[:5]) != (identity.device, identity.inode, identity.size,
                                             identity.mtime_ns, identity.ctime_ns):
            return None
        return str(row[5])

    def put(self, identity: Identity, sha256: str) -> None:
        if self._db is None:
            return
        with contextlib.suppress(sqlite3.Error):
            self._db.execute(
                "INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?, ?, ?, ?)",
                (identity.path, identity.device, identity.inode, identity.size,
                 identity.mtime_ns, identity.ctime_ns, sha256))

    def probed(self, path: Path, probe: Callable[[Path], MediaInfo | str]) -> MediaInfo | str:
        """`probe(path)`, or its remembered answer while the file is unchanged (only
        successful probes are remembered, under the limits they were made with)."""
        try:
            before = Identity.of(path, os.stat(path, follow_symlinks=False))
        except OSError:
            return probe(path)
        remembered = self._recall(before)
        if remembered is not None:
            return remembered
        answer = probe(path)
        if not isinstance(answer, str) and self._db is not None:
            with contextlib.suppress(OSError, sqlite3.Error):
                if Identity.of(path, os.stat(path, follow_symlinks=False)) == before:
                    self._db.execute(
                        "INSERT OR REPLACE INTO file_probes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (before.path, before.device, before.inode, before.size,
                         before.mtime_ns, before.ctime_ns, _probed_with(),
                         json.dumps(answer.to_dict())))
        return answer

    def _recall(self, identity: Identity) -> MediaInfo | None:
        if self._db is None:
            return None
        from rendercli.media.info import remembered

        try:
            row = self._db.execute(
                "SELECT device, inode, size, mtime_ns, ctime_ns, probed_with, info "
                "FROM file_probes WHERE path = ?", (identity.path,)).fetchone()
        except sqlite3.Error:
            return None
        if row is None or tuple(row[:6]) != (identity.device, identity.inode, identity.size,
                                             identity.mtime_ns, identity.ctime_ns,
                                             _probed_with()):
            return None
        try:
            return remembered(json.loads(row[6]))  # a file on disk: checked like any input
        except ValueError:
            return None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _probed_with() -> str:
    """What a probe's answer depends on besides the file: rendercli's version and the
    limits it checks."""
    from rendercli import __version__
    from rendercli.config import get_settings

    settings = get_settings()
    return (f"{__version__} {settings.max_file_size} {settings.max_duration} "
            f"{settings.max_dimension}")


def default_cache() -> HashCache:
    from rendercli.config import get_settings

    return HashCache(get_settings().data_dir / CACHE_FILE)


def file_facts(path: Path, shown: str, cache: HashCache) -> FileFacts:
    """The SHA-256 and size of a validated file, from the cache when it is unchanged."""
    with open_validated(path, shown) as (fd, st):
        identity = Identity.of(path, st)
        known = cache.get(identity)
        if known is not None:
            return FileFacts(path, known, st.st_size, hashed=False)
        sha256, size = hash_fd(fd)
        after = os.fstat(fd)
        if Identity.of(path, after) == identity and size == st.st_size:
            cache.put(identity, sha256)  # only a file that held still while read
        return FileFacts(path, sha256, size, hashed=True)
