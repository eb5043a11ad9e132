"""Remembered SHA-256 hashes (and probe answers) of files, by what the file looks like.

Hashing costs about a second per gigabyte, and SHA-256 is the identity of media
(storage is content-addressed). So a file's hash is remembered under its identity:
device, inode, size, mtime_ns and ctime_ns. A file whose identity matches is not read
again. Any write changes mtime and ctime, and ctime cannot be set back by a user, so a
changed file is hashed afresh. Two users of one memo: the render engine checking stored
objects against their keys (rendercli.render.verify) and `apply` hashing the files a
spec names (rendercli.services.specs.files), which also remembers probe answers. Both
only record what was read from a file that held still while it was read.

The memo is a small SQLite file in the data directory (one per machine and data
directory, so a new process remembers too), read through a dict in memory. It is only
an accelerator: without a file, or if it cannot be opened or read, files are hashed.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rendercli import __version__
from rendercli.config import get_settings
from rendercli.media.info import remembered

if TYPE_CHECKING:
    from rendercli.media.info import MediaInfo

MEMO_FILE = "file-hashes.sqlite3"
_COLUMNS = "device INTEGER, inode INTEGER, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER"
_SCHEMA = (f"CREATE TABLE IF NOT EXISTS file_hashes ({_COLUMNS}, sha256 TEXT, "
           "PRIMARY KEY (device, inode))",
           f"CREATE TABLE IF NOT EXISTS file_probes ({_COLUMNS}, probed_with TEXT, info TEXT, "
           "PRIMARY KEY (device, inode))")

Identity = tuple[int, int, int, int, int]  # device, inode, size, mtime_ns, ctime_ns


def identity(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class HashMemo:
    """Remembered hashes (and probe answers) by file identity. Never
    raises for memo trouble: a broken memo only means more hashing. Thread-safe."""

    def __init__(self, file: Path | None) -> None:
        self._known: dict[Identity, str] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if file is None:
            return
        try:
            from rendercli.fsmodes import ensure_private_dir, ensure_private_file

            ensure_private_dir(file.parent)
            ensure_private_file(file)
            self._db = sqlite3.connect(file, timeout=5, isolation_level=None,
                                       check_same_thread=False)
            for statement in _SCHEMA:
                self._db.execute(statement)
        except (OSError, sqlite3.Error):
            self._db = None

    def get(self, ident: Identity) -> str | None:
        """The SHA-256 remembered for a file of exactly this identity, if any."""
        with self._lock:
            known = self._known.get(ident)
            if known is not None:
                return known
            found = self._row("SELECT size, mtime_ns, ctime_ns, sha256 FROM file_hashes "
                              "WHERE device = ? AND inode = ?", ident)
            if found is None or tuple(found[:3]) != ident[2:]:
                return None
            self._known[ident] = str(found[3])
            return str(found[3])

    def put(self, ident: Identity, sha256: str) -> None:
        """Remember the hash of a file read while it had this identity throughout."""
        with self._lock:
            if self._db is not None:  # no file (or a broken one): nothing is remembered
                self._known[ident] = sha256
            self._write("INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?, ?, ?)",
                        (*ident, sha256))

    def probed(self, path: Path, probe: Callable[[Path], MediaInfo | str]) -> MediaInfo | str:
        """`probe(path)`, or its remembered answer while the file is unchanged (only
        successful probes are remembered, in the file, under the limits they were made
        with). A spec's files: their probe decides only whether the spec is valid."""
        try:
            before = identity(os.stat(path, follow_symlinks=False))
        except OSError:
            return probe(path)
        with self._lock:
            found = self._row("SELECT size, mtime_ns, ctime_ns, probed_with, info "
                              "FROM file_probes WHERE device = ? AND inode = ?", before)
        if found is not None and tuple(found[:4]) == (*before[2:], _probed_with()):
            known = None
            with contextlib.suppress(ValueError):
                known = remembered(json.loads(str(found[4])))  # a file: checked as input
            if known is not None:
                return known
        answer = probe(path)
        if not isinstance(answer, str):
            with contextlib.suppress(OSError), self._lock:
                if identity(os.stat(path, follow_symlinks=False)) == before:
                    self._write("INSERT OR REPLACE INTO file_probes VALUES "
                                "(?, ?, ?, ?, ?, ?, ?)",
                                (*before, _probed_with(), json.dumps(answer.to_dict())))
        return answer

    def _row(self, sql: str, ident: Identity) -> tuple[object, ...] | None:
        if self._db is None:
            return None
        try:
            return self._db.execute(sql, ident[:2]).fetchone()
        except sqlite3.Error:
            return None

    def _write(self, sql: str, values: tuple[object, ...]) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute(sql, values)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _probed_with() -> str:
    """What a probe's answer depends on besides the file: rendercli's version and the
    limits it checks."""
    settings = get_settings()  # no App here: the media layer's memo
    return (f"{__version__} {settings.max_file_size} {settings.max_duration} "
            f"{settings.max_dimension}")


_memos: dict[Path, HashMemo] = {}
_memos_lock = threading.Lock()


def default_memo() -> HashMemo:
    """This process's memo for the configured data directory (kept open: a worker's
    steps and a command's files share it)."""
    file = get_settings().data_dir / MEMO_FILE  # no App: a process-wide memo
    with _memos_lock:
        memo = _memos.get(file)
        if memo is None:
            memo = _memos[file] = HashMemo(file)
        return memo
