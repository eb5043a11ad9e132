"""Content-addressed storage of asset files.

Layout under the storage directory::

    objects/ab/ab12...ef   one file per distinct content, named by its SHA-256 (no extension)
    tmp/                   files being staged; anything here is garbage once its process ends

An object key is the 64-hex-digit SHA-256 of the content. Objects carry no extension on
purpose: FFmpeg would pick the ``image2`` demuxer for ``.png``/``.jpg`` names (which the
format whitelist refuses), and content-only detection is what the probe validated.

Ingest is stage -> probe -> commit: ``stage_file`` reads the source exactly once, copying
it into ``tmp/`` while hashing; the caller probes the staged copy, then ``commit_staged``
moves it into place (or ``discard_staged`` drops it). ``StoredFile.created`` says whether
this call created the object, so a caller whose database commit fails removes only the
objects it added.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from rendercli.errors import InvalidInput, OperationFailed
from rendercli.media.validate import format_size, open_regular_file, safe_display_name

CHUNK_SIZE = 1024 * 1024
OBJECTS_DIR = "objects"
TMP_DIR = "tmp"
TMP_PREFIX = "stage-"
_KEY_RE = re.compile(r"[0-9a-f]{64}")


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


def object_path(storage_dir: Path, key: str) -> Path:
    """Where the object with ``key`` lives. Raises ValueError for a malformed key."""
    if not _KEY_RE.fullmatch(key):
        raise ValueError(f"not a storage key: {key!r}")
    return storage_dir / OBJECTS_DIR / key[:2] / key


def stage_file(
    src: Path,
    storage_dir: Path,
    *,
    display_name: str | None = None,
    max_file_size: int | None = None,
) -> StagedFile:
    """Copy ``src`` into ``storage_dir/tmp`` while hashing it; the source is read once.

    Rejections (missing, directory, unreadable, empty, above ``max_file_size``, or grown
    past it while copying) raise InvalidInput naming ``display_name`` (default: the
    sanitised base name). Storage I/O failures raise OperationFailed. No temporary file
    is left behind on any failure.
    """
    name = display_name if display_name is not None else safe_display_name(src)
    src_fd, _size = open_regular_file(src, display_name=name, max_file_size=max_file_size)
    try:
        tmp_dir = _ensure_dir(storage_dir / TMP_DIR)
        tmp_path = tmp_dir / f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"
        try:
            sha256, size = _copy_and_hash(src_fd, tmp_path, name, max_file_size)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp_path.unlink()
            raise
    finally:
        os.close(src_fd)
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
            raise OperationFailed(f"cannot write to storage: {exc.strerror}: {path}") from None
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
    os.chmod(staged.path, 0o444)  # objects are immutable
    created = _link_no_clobber(staged.path, final)
    if not created and final.stat().st_size != staged.size:
        # A damaged object (e.g. cut short by a crash before fsync existed): replace it.
        os.replace(staged.path, final)
    else:
        with contextlib.suppress(FileNotFoundError):
            staged.path.unlink()
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


def store_file(
    src: Path,
    storage_dir: Path,
    *,
    display_name: str | None = None,
    max_file_size: int | None = None,
) -> StoredFile:
    """Stage and commit ``src`` in one step (no probe in between)."""
    staged = stage_file(src, storage_dir, display_name=display_name, max_file_size=max_file_size)
    try:
        return commit_staged(staged)
    except BaseException:
        discard_staged(staged)
        raise


def remove_object(storage_dir: Path, key: str) -> bool:
    """Delete the object ``key``; True if it existed. The caller checks references first."""
    path = object_path(storage_dir, key)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    _fsync_dir(path.parent)
    return True


def clean_temp_files(storage_dir: Path, *, older_than: float = 24 * 3600) -> int:
    """Delete staged files left by crashed processes; returns how many were removed.

    Only files older than ``older_than`` seconds are touched, so a concurrent ingest's
    staging file survives. Pass ``older_than=0`` when no other process can be staging.
    """
    tmp_dir = storage_dir / TMP_DIR
    if not tmp_dir.is_dir():
        return 0
    cutoff = time.time() - older_than
    removed = 0
    for entry in os.scandir(tmp_dir):
        if not entry.name.startswith(TMP_PREFIX) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime <= cutoff:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue
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
