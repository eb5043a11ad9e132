"""The read-through cache: bucket objects kept in the storage directory, bounded.

A fetched object is written to a temporary name (``tmp/stage-...``, owner-tagged, on the
same file system), verified against its hash, and only then renamed into place, so a
partial or corrupt download is never visible under the final name (a killed fetch leaves
a temporary file that the usual sweep of owner-tagged temporary files removes). A per-
name lock file under ``cache/locks/`` serialises fetchers: two work horses on one
machine wanting the same object download it once. Users of a file hold that lock shared
(:meth:`FetchCache.held`) and eviction takes it exclusively without waiting, so an
object in use is never evicted.

The limit (RENDERCLI_CACHE_LIMIT) counts every bucket-backed file under the storage
directory; past it, the least recently used go first (by the time of the last use,
which every use records on the object's lock file), and only ones the bucket is
confirmed to hold, at the same size (at most MAX_CONFIRMS asked per pass).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from rendercli import storage
from rendercli.errors import OperationFailed
from rendercli.objectstore.names import check_name, local_path, name_digest
from rendercli.objectstore.transfer import publish_into_place

LOCKS_DIR = "locks"  # under cache/
MAX_CONFIRMS = 64  # HEAD requests one eviction pass may make (the rest wait for the next)
# Directories of bucket-backed files, and the kind of name each holds.
_CACHED_DIRS = (("objects", "objects"), ("cache/segments", "segments"),
                ("cache/renders", "renders"), (storage.RENDERS_DIR, "outputs"))

Fetch = Callable[[str, Path, "str | None"], None]  # (name, temporary path, sha256)
Confirm = Callable[[str, int], bool]  # (name, size): the bucket holds it at that size
Verified = Callable[[Path, str], None]  # (final path, sha256): fetched and checked


class FetchCache:
    """Bucket objects in ``storage_dir``, at most ``limit`` bytes of them."""

    def __init__(self, storage_dir: Path, limit: int, fetch: Fetch, confirm: Confirm,
                 verified: Verified | None = None) -> None:
        self.storage_dir = Path(storage_dir)
        self.limit = limit
        self._fetch = fetch
        self._confirm = confirm
        self._verified = verified  # hears each fetched file whose hash was checked

    def _lock_path(self, name: str) -> Path:
        locks = self.storage_dir / storage.CACHE_DIR / LOCKS_DIR
        return locks / f"{check_name(name).replace('/', '--')}.lock"

    def _lock_file(self, name: str) -> int:
        path = self._lock_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666)

    def _last_use(self, name: str, stat: os.stat_result) -> float:
        """When ``name`` was last used here: its lock file's mtime (every use touches
        it), else the file's own access time."""
        try:
            return self._lock_path(name).stat().st_mtime
        except OSError:
            return stat.st_atime

    def _present(self, name: str, fd: int, sha256: str | None) -> tuple[Path, bool]:
        """With ``fd`` locked shared: the local path of ``name``, fetched first if
        missing (under the exclusive lock), and whether this call fetched it. Returns
        with the lock shared again."""
        final = local_path(self.storage_dir, name)
        expected = sha256 or name_digest(name)
        fetched = False
        while True:
            fcntl.flock(fd, fcntl.LOCK_SH)
            if final.is_file():
                _touch(fd, final)
                return final, fetched
            fcntl.flock(fd, fcntl.LOCK_EX)  # not atomic: someone may fetch meanwhile
            if not final.is_file():
                final.parent.mkdir(parents=True, exist_ok=True)
                _remove_leftovers(final)  # of fetches before fetches used tmp/
                # In tmp/ as a `stage-` file, owner-tagged: a fetch killed half-way
                # leaves it where the temp sweep looks (and removes it once we are dead).
                tmp = storage.tmp_dir(self.storage_dir) / storage.temp_name(
                    self.storage_dir, storage.TMP_PREFIX, f"-fetch-{final.name}")
                try:
                    self._fetch(name, tmp, expected)
                    if name.startswith("objects/"):
                        os.chmod(tmp, 0o444)  # read-only, as storage keeps its objects
                    publish_into_place(tmp, final)
                    if expected is not None and self._verified is not None:
                        self._verified(final, expected)
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        tmp.unlink()
                fetched = True

    def localize(self, name: str, *, sha256: str | None = None) -> Path:
        """The local path of ``name``, fetched and verified if missing (see module doc).
        Nothing keeps it from eviction once this returns: hold it with :meth:`held`."""
        with self.held({name: sha256}) as paths:
            return paths[name]

    @contextlib.contextmanager
    def held(self, wanted: Mapping[str, str | None]) -> Iterator[dict[str, Path]]:
        """Local paths of every name in ``wanted`` (name -> expected SHA-256 or None),
        fetched if missing, and kept from eviction until the block ends."""
        fds: list[int] = []
        paths: dict[str, Path] = {}
        fetched = False
        try:
            for name, sha256 in wanted.items():
                fds.append(self._lock_file(name))
                paths[name], new = self._present(name, fds[-1], sha256)
                fetched = fetched or new
            if fetched:
                self.evict()
            yield paths
        finally:
            for fd in fds:
                os.close(fd)  # drops its lock

    def _files(self) -> Iterator[tuple[str, Path, os.stat_result]]:
        for folder, kind in _CACHED_DIRS:
            root = self.storage_dir / folder
            for dirpath, _dirs, files in os.walk(root):
                for file in files:
                    if file.startswith("."):
                        continue  # temporary files: the temp sweep's business
                    name = f"{kind}/{file}"
                    try:
                        check_name(name)
                        path = Path(dirpath) / file
                        yield name, path, path.lstat()
                    except (OSError, ValueError):
                        continue

    def evict(self) -> int:
        """Remove least recently used files until the cache is within its limit; returns
        the bytes freed. Files in use (locked) and files the bucket cannot be confirmed
        to hold are kept."""
        entries = sorted(self._files(), key=lambda entry: self._last_use(entry[0], entry[2]))
        total = sum(stat.st_size for _name, _path, stat in entries)
        freed = 0
        asked = 0
        for name, path, stat in entries:
            if total - freed <= self.limit or asked >= MAX_CONFIRMS:
                break
            fd = self._lock_file(name)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # in use
                asked += 1
                if not self._confirm(name, stat.st_size):
                    continue  # not (yet) in the bucket: this copy may be the only one
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    freed += stat.st_size
                    logging.getLogger(__name__).debug("evicted %s (%d bytes)", name,
                                                      stat.st_size)
            finally:
                os.close(fd)
        return freed


def _remove_leftovers(final: Path) -> None:
    """Temporary files of earlier fetches of this object that died (a fetch holds the
    object's lock exclusively, so with it held no fetch of it is alive here)."""
    for leftover in final.parent.glob(f".{final.name}.tmp-*"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def _touch(fd: int, path: Path) -> None:
    """Record a use of ``path`` on its lock file (open as ``fd``): eviction orders by it.
    The object itself is left alone, so its identity (ctime included) stays what the hash
    memo remembers, and an unchanged input is not hashed again."""
    try:
        # The time now, not the kernel's coarse file clock: uses a millisecond apart
        # must still come in order.
        now = time.time_ns()
        os.utime(fd, ns=(now, now))
    except OSError as exc:
        raise OperationFailed(f"cannot use cached object {path}: {exc.strerror}") from None
