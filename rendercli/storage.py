"""The storage directory: its layout, and content-addressed asset files.

This module owns every path under the storage directory. Each one is built from a
value checked against its format (a 64-hex-digit SHA-256, a cuid job id, a known
extension) and confined to the storage directory, because those values come from the
database, and a row anyone with the database credentials wrote must not be able to make
rendercli open, write or delete a file elsewhere (:class:`UnsafePath`)::

    objects/ab/ab12...ef        one file per distinct content, named by its SHA-256
    renders/<job id>.<ext>      a job's output (mp4, webm or gif) and <job id>.jpg poster
    cache/segments/<key>.<ext>  render cache (see rendercli.render.cache), with <key>.json
    cache/renders/<key>.<ext>   beside each entry recording its SHA-256
    tmp/                        work in progress; see rendercli.owner_lock for who owns what
    deletions.log               one JSON line per object deleted, and why (append-only)

Objects carry no extension on purpose: FFmpeg would pick the ``image2`` demuxer for
``.png``/``.jpg`` names (which the format whitelist refuses), and content-only detection
is what the probe validated.

Ingest is stage -> probe -> commit (rendercli.media.ingest checks the source and probes;
storage only keeps bytes): ``stage_open_file`` reads the source exactly once, copying it
into ``tmp/`` while hashing; the caller probes the staged copy, then ``commit_staged``
moves it into place (or ``discard_staged`` drops it). ``StoredFile.created`` says whether
this call created the object, so a caller whose database commit fails removes only the
objects it added. From the first commit until the asset rows are committed, the caller
holds :func:`ingest_guard`, so :func:`sweep_orphan_objects` never removes an object whose
row is on its way.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from rendercli.errors import InvalidInput, OperationFailed

CHUNK_SIZE = 1024 * 1024
OBJECTS_DIR = "objects"
RENDERS_DIR = "renders"
CACHE_DIR = "cache"
TMP_DIR = "tmp"
TMP_PREFIX = "stage-"
RENDER_EXTS = ("mp4", "webm", "gif", "jpg")  # outputs and posters in renders/
CACHE_EXTS = ("mp4", "webm", "mkv", "m4a", "gif", "jpg", "json")
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
_STEM_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")  # job ids and the engine's own names
_INGEST_LOCK = "objects.lock"
_DATABASE_MARK = ".database"
DELETIONS_LOG = "deletions.log"  # one JSON line per deleted object (record_deletion)


class UnsafePath(OperationFailed, ValueError):
    """A value that would name a file outside its place in storage: refused, nothing
    opened or removed. (A ValueError too, for callers that check formats.)"""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def is_digest(value: object) -> bool:
    """True if ``value`` is a 64-digit lowercase hex SHA-256."""
    return isinstance(value, str) and _DIGEST_RE.fullmatch(value) is not None


def check_digest(value: object, what: str = "storage key") -> str:
    """``value`` if it is a 64-digit lowercase hex SHA-256, else UnsafePath."""
    if isinstance(value, str) and _DIGEST_RE.fullmatch(value):
        return value
    raise UnsafePath(f"refusing {what} {_shown(value)}: not a storage key (a SHA-256 digest)")


def check_job_id(value: object) -> str:
    """``value`` if it has the shape of a job id (cuid2), else UnsafePath."""
    from rendercli.db.ids import is_valid_id

    if is_valid_id(value):
        return str(value)
    raise UnsafePath(f"refusing job id {_shown(value)} from the database: not a valid id")


def confine(storage_dir: Path, path: Path) -> Path:
    """``path`` if it resolves (symlinks followed) strictly inside ``storage_dir``."""
    root = Path(storage_dir).resolve()
    resolved = Path(path).resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise UnsafePath(f"refusing {_shown(str(path))}: it is not inside storage {root}")
    return path


def object_path(storage_dir: Path, key: str) -> Path:
    """Where the object with ``key`` lives. Raises UnsafePath for a malformed key."""
    check_digest(key)
    return confine(storage_dir, Path(storage_dir) / OBJECTS_DIR / key[:2] / key)


def render_path(storage_dir: Path, name: str, ext: str) -> Path:
    """``renders/<name>.<ext>``: a job's output or poster (``name`` is the job id)."""
    if not isinstance(name, str) or not _STEM_RE.fullmatch(name):
        raise UnsafePath(f"refusing render name {_shown(name)}: not a job id")
    if ext not in RENDER_EXTS:
        raise UnsafePath(f"refusing render extension {_shown(ext)}")
    return confine(storage_dir, Path(storage_dir) / RENDERS_DIR / f"{name}.{ext}")


def job_render_files(storage_dir: Path, job_id: str) -> list[Path]:
    """Every file a job's render may have left in ``renders/`` (exact names, no glob)."""
    check_job_id(job_id)
    return [render_path(storage_dir, job_id, ext) for ext in RENDER_EXTS]


def remove_job_renders(storage_dir: Path, job_id: str) -> int:
    """Delete a job's output and poster; returns how many files were removed."""
    removed = 0
    for path in job_render_files(storage_dir, job_id):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed


def render_file_from_url(storage_dir: Path, url: str, job_id: str) -> Path:
    """The local file a job's recorded ``file://`` output URL names, if that is exactly
    one of the job's own files in ``renders/``; else UnsafePath."""
    parsed = urlparse(url)
    recorded = Path(unquote(parsed.path))
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        raise UnsafePath(f"refusing output URL {_shown(url)}: not a file in storage")
    for path in job_render_files(storage_dir, job_id):
        if recorded == path.absolute() or recorded == path.resolve():
            return path
    raise UnsafePath(
        f"refusing output {_shown(str(recorded))} of job {job_id}: "
        f"it is not the job's file in {Path(storage_dir) / RENDERS_DIR}"
    )


def cache_path(storage_dir: Path, kind: str, key: str, ext: str) -> Path:
    """``cache/<kind>/<key>.<ext>`` for a cache key (a SHA-256 digest)."""
    check_digest(key, "cache key")
    if kind not in ("segments", "renders") or ext not in CACHE_EXTS:
        raise UnsafePath(f"refusing cache entry {kind}/{key}.{_shown(ext)}")
    return confine(storage_dir, Path(storage_dir) / CACHE_DIR / kind / f"{key}.{ext}")


def file_sha256(path: Path, buffer_size: int = CHUNK_SIZE) -> str:
    """The SHA-256 of a file's bytes, read in ``buffer_size`` chunks."""
    digest = hashlib.sha256()
    buffer = bytearray(buffer_size)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def format_size(size: int) -> str:
    """A human size in decimal units: ``1.5 GB``."""
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def tmp_dir(storage_dir: Path) -> Path:
    """``tmp/``, created if missing."""
    return _ensure_dir(Path(storage_dir) / TMP_DIR)


def temp_name(storage_dir: Path, prefix: str, suffix: str = "") -> str:
    """A unique temporary file name carrying this process's owner tag:
    ``<prefix><tag>-<random><suffix>``. See rendercli.owner_lock."""
    from rendercli.owner_lock import owner_tag

    tmp = tmp_dir(storage_dir)
    try:
        tag = owner_tag(tmp)
    except OSError as exc:
        raise storage_write_failed(exc, tmp) from None
    return f"{prefix}{tag}-{secrets.token_hex(5)}{suffix}"


# A storage that cannot take writes at all: full, over quota, mounted read-only.
UNWRITABLE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def storage_write_failed(exc: OSError, path: Path) -> OperationFailed:
    """The one-line error for a write the storage refused (same shape for every cause)."""
    return OperationFailed(f"cannot write to storage: {exc.strerror or exc}: {path}")


def check_writable(storage_dir: Path) -> None:
    """Write, sync and remove a small file in ``tmp/``: OperationFailed (one line) when the
    storage is full, over quota, read-only or not writable, before anything is created
    that a failed write would leave behind (a job row)."""
    tmp = tmp_dir(storage_dir)
    probe = tmp / temp_name(storage_dir, TMP_PREFIX, ".probe")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, b"rendercli\n")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise storage_write_failed(exc, tmp) from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


@dataclass(frozen=True)
class StagedFile:
    """A complete, fsynced copy of a source file in ``tmp/``, not yet an object."""

    storage_dir: Path
    path: Path  # the temporary copy: probe this one
    sha256: str
    size: int

    @property
    def key(self) -> str:
        return self.sha256


@dataclass(frozen=True)
class StoredFile:
    """An object in storage."""

    sha256: str
    size: int
    key: str
    path: Path
    created: bool  # False when identical content was already stored
    storage_dir: Path


def stage_open_file(
    src_fd: int, storage_dir: Path, *, display_name: str, max_file_size: int | None = None
) -> StagedFile:
    """Copy an open source into ``storage_dir/tmp`` while hashing it, reading it once:
    the caller opened and checked it (media.ingest.stage_file) and closes it, so the
    copy is of exactly the file that was checked. A source that grows past
    ``max_file_size`` while copying raises InvalidInput naming ``display_name``; storage
    I/O failures raise OperationFailed. No temporary file is left behind on failure."""
    tmp_path = tmp_dir(storage_dir) / temp_name(storage_dir, TMP_PREFIX)
    try:
        sha256, size = _copy_and_hash(src_fd, tmp_path, display_name, max_file_size)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
    return StagedFile(storage_dir=storage_dir, path=tmp_path, sha256=sha256, size=size)


def _copy_and_hash(
    src_fd: int, tmp_path: Path, name: str, max_file_size: int | None
) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    try:
        out_fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise OperationFailed(f"cannot write to storage: {exc.strerror}: {tmp_path}") from None
    try:
        while True:
            try:
                chunk = os.read(src_fd, CHUNK_SIZE)
            except OSError as exc:
                raise InvalidInput(f"{name}: read error ({exc.strerror})") from None
            if not chunk:
                break
            size += len(chunk)
            if max_file_size is not None and size > max_file_size:
                raise InvalidInput(
                    f"{name}: file is larger than the {format_size(max_file_size)} limit"
                )
            digest.update(chunk)
            _write_all(out_fd, chunk, tmp_path)
        if size == 0:  # it was truncated after the size check
            raise InvalidInput(f"{name}: file is empty")
        try:
            os.fsync(out_fd)
        except OSError as exc:
            raise OperationFailed(f"cannot write to storage: {exc.strerror}") from None
    finally:
        os.close(out_fd)
    return digest.hexdigest(), size


def _write_all(fd: int, data: bytes, path: Path) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except OSError as exc:
            raise storage_write_failed(exc, path) from None
        view = view[written:]


def commit_staged(staged: StagedFile) -> StoredFile:
    """Move a staged copy into place as an object (atomic, no-clobber); returns it.

    When the object already exists the staged copy is dropped and ``created`` is False.
    """
    final = object_path(staged.storage_dir, staged.sha256)
    new_dir = not final.parent.is_dir()
    _ensure_dir(final.parent)
    if new_dir:
        _fsync_dir(final.parent.parent)
    # Objects are immutable; reading follows the umask (a shared farm storage's admin
    # decides who may read it).
    os.chmod(staged.path, os.stat(staged.path).st_mode & 0o555)
    created = _link_no_clobber(staged.path, final)
    if not created and (final.stat().st_size != staged.size
                        or file_sha256(final) != staged.sha256):
        # A damaged object (cut short by a crash before fsync existed, or changed in
        # storage, which renders refuse): the staged copy has the right bytes.
        os.replace(staged.path, final)
    else:
        with contextlib.suppress(FileNotFoundError):
            staged.path.unlink()
    # The orphan sweep's grace counts from now, not from when the copy was made.
    with contextlib.suppress(OSError):
        os.utime(final)
    _fsync_dir(final.parent)
    return StoredFile(
        sha256=staged.sha256,
        size=staged.size,
        key=staged.sha256,
        path=final,
        created=created,
        storage_dir=staged.storage_dir,
    )


def _link_no_clobber(tmp: Path, final: Path) -> bool:
    """Make ``final`` name the content of ``tmp`` unless it exists; True if we made it.

    os.link fails when the target exists, so two processes storing the same content
    cannot both believe they created it (rename would silently overwrite, and the loser's
    rollback would then delete an object the winner's database row points at).
    """
    try:
        os.link(tmp, final)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise OperationFailed(f"cannot write to storage: {exc.strerror}: {final}") from None
    # Filesystems without hard links: exists-check then rename (a small race remains).
    if final.exists():
        return False
    os.replace(tmp, final)
    return True


def discard_staged(staged: StagedFile) -> None:
    """Delete a staged copy (after a rejection). Safe to call twice."""
    with contextlib.suppress(FileNotFoundError):
        staged.path.unlink()


def remove_object(storage_dir: Path, key: str, *, reason: str) -> bool:
    """Delete the object ``key``; True if it existed. The caller checks references first.

    Every deletion is recorded first, with ``reason``, in ``deletions.log`` and the
    log (:func:`record_deletion`): an object whose deletion cannot be recorded is kept
    (OSError). The object itself may be a symlink (removing the link is harmless);
    the directory it is removed from must be inside storage."""
    check_digest(key)
    path = Path(storage_dir) / OBJECTS_DIR / key[:2] / key
    confine(storage_dir, path.parent)
    try:
        size = path.lstat().st_size
    except FileNotFoundError:
        return False
    record_deletion(storage_dir, key, reason, size)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    _fsync_dir(path.parent)
    return True


def record_deletion(storage_dir: Path, key: str, reason: str, size: int) -> None:
    """Append one JSON line to ``<storage>/deletions.log`` (time, key, bytes, reason, host,
    pid, uid) and fsync it, and log it (INFO). Raises OSError when it cannot be written."""
    import logging
    import socket

    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "key": key, "bytes": size, "reason": reason,
        "host": socket.gethostname(), "pid": os.getpid(), "uid": os.getuid(),
    }
    line = (json.dumps(record, ensure_ascii=True) + "\n").encode("ascii")
    path = Path(storage_dir) / DELETIONS_LOG
    # O_APPEND: writers on this host never interleave within a line; O_NOFOLLOW: a
    # symlink put in its place makes this fail (and the object stay) rather than
    # append to a file elsewhere.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o666)
    try:
        if os.write(fd, line) != len(line):  # a line is far below any short-write size
            raise OSError(errno.EIO, "short write", str(path))
        os.fsync(fd)
    finally:
        os.close(fd)
    logging.getLogger(__name__).info("deleting stored object %s (%d bytes): %s", key, size,
                                     reason)


_TAGGED_RE = re.compile(r"(?:^stage-|^render-|^\.concat-|\.tmp-)([0-9a-f]{16})-[0-9a-f]{10}")


def _temp_candidates(storage_dir: Path) -> Iterator[os.DirEntry[str]]:
    """Temporary files and work directories that renders and ingests make."""
    root = Path(storage_dir)
    tmp = root / TMP_DIR
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(tmp):
            if entry.name.startswith((TMP_PREFIX, "render-")):
                yield entry
    for folder in (root / RENDERS_DIR, root / CACHE_DIR / "segments", root / CACHE_DIR / "renders"):
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for entry in os.scandir(folder):
                if entry.name.startswith(".") and (
                    ".tmp-" in entry.name or entry.name.startswith(".concat-")
                ):
                    yield entry


def clean_temp_files(storage_dir: Path, *, older_than: float = 24 * 3600) -> int:
    """Delete what killed ingests and renders left behind; returns how many were removed.

    A file whose owner (see rendercli.owner_lock) is known dead goes at once; one whose
    owner is alive stays. One that can't be placed (another host's, or from a version
    without owner tags) goes once it is older than ``older_than`` seconds. Owner lock
    files of dead processes are removed too. Best effort: never raises OSError.
    """
    from rendercli.owner_lock import OwnerState, owner_state, release_dead, tag_of_lock_file

    root = Path(storage_dir)
    tmp = root / TMP_DIR
    cutoff = time.time() - older_than
    states: dict[str, tuple[OwnerState, int | None]] = {}
    kept: set[str] = set()  # dead owners with a file we could not remove: keep their lock
    removed = 0
    try:
        for entry in _temp_candidates(root):
            match = _TAGGED_RE.search(entry.name)
            tag = match.group(1) if match else ""
            if tag and tag not in states:
                states[tag] = owner_state(tmp, tag)
            state = states[tag][0] if tag else OwnerState.UNKNOWN
            try:
                if state is OwnerState.ALIVE:
                    continue
                if (state is OwnerState.UNKNOWN
                        and entry.stat(follow_symlinks=False).st_mtime > cutoff):
                    continue
                removed += _remove_entry(entry)
            except FileNotFoundError:
                continue
            except OSError:
                kept.add(tag)
        # Lock files whose owners died with nothing left to sweep.
        for entry in os.scandir(tmp):
            lock_tag = tag_of_lock_file(entry.name)
            if lock_tag is not None and lock_tag not in states:
                states[lock_tag] = owner_state(tmp, lock_tag)
    except OSError:
        pass  # storage missing or unreadable: nothing to sweep now
    finally:
        for tag, (state, fd) in states.items():
            if fd is None:
                continue
            if state is OwnerState.DEAD and tag not in kept:
                with contextlib.suppress(OSError):
                    release_dead(tmp, tag, fd)
            else:
                os.close(fd)
    return removed


def _remove_entry(entry: os.DirEntry[str]) -> int:
    if entry.is_dir(follow_symlinks=False):
        shutil.rmtree(entry.path)
    else:
        os.unlink(entry.path)
    return 1


# ---- unreferenced objects ---------------------------------------------------------------


@contextlib.contextmanager
def ingest_guard(storage_dir: Path, wait: float) -> Iterator[None]:
    """Hold while objects are committed and until their asset rows are committed (or
    the objects rolled back): :func:`sweep_orphan_objects` waits for no one and skips its
    run while any ingest holds this (a shared flock, released however the process ends).
    Taking it waits ``wait`` seconds (RENDERCLI_INGEST_GUARD_WAIT) for a running sweep to
    finish."""
    path = tmp_dir(storage_dir) / _INGEST_LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if not _flock_within(fd, fcntl.LOCK_SH, wait):
            raise OperationFailed(f"storage is busy: another process holds {path}; try again")
        yield
    finally:
        os.close(fd)


def _flock_within(fd: int, operation: int, wait: float) -> bool:
    """Take a flock within ``wait`` seconds. True as well where the filesystem has no
    locks at all: then only the sweep's grace (RENDERCLI_ORPHAN_GRACE) separates a sweep
    from an ingest."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        except OSError:
            return True


@contextlib.contextmanager
def exclusive_objects(storage_dir: Path, *, wait: float = 0.0) -> Iterator[bool]:
    """Try to become the only process deciding about objects (no ingest in flight).
    Yields False if that did not happen within ``wait`` seconds."""
    try:
        fd = os.open(tmp_dir(storage_dir) / _INGEST_LOCK,
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        yield False
        return
    try:
        yield _flock_within(fd, fcntl.LOCK_EX, wait)
    finally:
        os.close(fd)


def database_mark(storage_dir: Path) -> str | None:
    """The fingerprint of the database this storage belongs to, if one was recorded."""
    try:
        return (Path(storage_dir) / _DATABASE_MARK).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return ""


def mark_database(storage_dir: Path, fingerprint: str) -> None:
    """Record which database this storage belongs to, unless one already is (best
    effort). Orphans are swept only for that database: pointed at the wrong one by
    mistake, every object would look unreferenced."""
    mark = Path(storage_dir) / _DATABASE_MARK
    if mark.exists():
        return
    tmp = mark.with_name(f"{_DATABASE_MARK}.{secrets.token_hex(4)}")
    try:
        tmp.write_text(fingerprint + "\n", encoding="utf-8")
        _link_no_clobber(tmp, mark)
    except (OSError, OperationFailed):
        pass
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def object_keys(storage_dir: Path, limit: int) -> list[str]:
    """Up to ``limit`` keys of stored objects."""
    keys = []
    for key, _entry in _object_files(storage_dir):
        keys.append(key)
        if len(keys) >= limit:
            break
    return keys


def _object_files(storage_dir: Path) -> Iterator[tuple[str, os.DirEntry[str]]]:
    root = Path(storage_dir) / OBJECTS_DIR
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for shard in os.scandir(root):
            if len(shard.name) != 2 or not shard.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(shard.path):
                if _DIGEST_RE.fullmatch(entry.name) and entry.name[:2] == shard.name:
                    yield entry.name, entry


def sweep_orphan_objects(
    storage_dir: Path,
    referenced: Callable[[list[str]], Iterable[str]],
    *,
    grace: float,
) -> int | None:
    """Delete objects no asset references that are older than ``grace`` seconds
    (RENDERCLI_ORPHAN_GRACE: an ingest may be placing them).

    ``referenced(keys)`` returns the keys some asset row uses, or raises when it cannot
    tell. Every old object is asked about before any is deleted, so an error on any
    of them deletes nothing (it propagates). Returns how many were removed, or None when
    an ingest is in flight (nothing is done then).
    """
    if not (Path(storage_dir) / OBJECTS_DIR).is_dir():
        return 0
    with exclusive_objects(storage_dir) as alone:
        if not alone:
            return None
        cutoff = time.time() - grace
        old = []
        for key, entry in _object_files(storage_dir):
            with contextlib.suppress(FileNotFoundError):
                if entry.stat(follow_symlinks=False).st_mtime <= cutoff:
                    old.append(key)
        unused: list[str] = []
        for start in range(0, len(old), 500):
            chunk = old[start : start + 500]
            used = set(referenced(chunk))
            unused += [key for key in chunk if key not in used]
        reason = f"orphan sweep: no asset references it, placed over {grace:g} s ago"
        removed = 0
        for key in unused:
            if remove_object(storage_dir, key, reason=reason):
                removed += 1
        return removed


def _ensure_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OperationFailed(f"cannot create storage directory {path}: {exc.strerror}") from None
    return path


def _fsync_dir(path: Path) -> None:
    """Persist a directory entry change (a rename or unlink) across a crash."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the data file is synced
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Persist a directory entry change (a rename or unlink) across a crash."""
    _fsync_dir(path)
