"""`--output`: the one place that writes a file the user named (a finished render, a
downloaded job output, a frame, a storyboard).

An existing file is never replaced silently: that is exit 5 unless `--force` is given.
The target must be a regular file or not exist. A FIFO, a device (as root, `--output
/dev/null` would otherwise replace the real one), a directory or a symlink (even to a
regular file) is refused with exit 2 and left untouched: before the render starts, and
again at the moment of writing, since the target may change while a render runs.
Missing parent directories are created (as `mkdir -p` does); a parent that is there and
is not a directory (a file, a dangling symlink) is refused, exit 2.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from rendercli.errors import Conflict, InvalidInput, OperationFailed

_KINDS = (
    (stat.S_ISLNK, "a symlink"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(path: Path) -> str | None:
    """None if `path` is absent or a regular file, else what it is (never followed)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InvalidInput(f"--output: cannot inspect {path}: {exc.strerror or exc}") from None
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _refuse_special(path: Path, *, when: str = "") -> None:
    kind = _kind(path)
    if kind is not None:
        raise InvalidInput(
            f"--output {path} is {kind}{when}; it must be a regular file or not exist "
            "(nothing was written)"
        )


def _refuse_existing(path: Path, *, when: str = "", option: str = "--output") -> None:
    other = "another name with --output" if option == "--output" else f"another {option}"
    raise Conflict(
        f"{path} already exists{when}: add --force to replace it, or choose {other} "
        "(nothing was written)"
    )


def not_a_directory(folder: Path, option: str = "--output") -> InvalidInput:
    return InvalidInput(f"{option}: {folder} is there and is not a directory "
                        "(nothing was written)")


def ensure_directory(folder: Path, option: str = "--output") -> Path:
    """Create `folder` and its missing parents (as `mkdir -p`), returned with ~ expanded.
    InvalidInput (exit 2) when it, or the nearest part of it that exists, is there and is
    not a directory (a file, a dangling symlink), or it cannot be created."""
    folder = folder.expanduser()
    missing: list[Path] = []
    existing = folder
    while not os.path.lexists(existing):
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        raise not_a_directory(existing, option)
    for part in reversed(missing):
        try:
            os.mkdir(part)
        except FileExistsError:
            if not part.is_dir():
                raise not_a_directory(part, option) from None
        except OSError as exc:
            raise InvalidInput(f"{option}: cannot create {part}: {exc.strerror or exc}"
                               ) from None
    return folder


def check_target(path: Path, *, force: bool = False, option: str = "--output") -> Path:
    """Validate an --output target before anything starts (its missing parent directories
    are created); returns it with ~ expanded. Conflict (exit 5) when it exists and `force`
    is not set; `option` is what the messages call the place (e.g. --output-dir)."""
    path = path.expanduser()
    _refuse_special(path)
    if not force and os.path.lexists(path):
        _refuse_existing(path, option=option)
    parent = ensure_directory(path.parent, option)
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InvalidInput(f"{option}: cannot write {path}")
    return path


def publish(source: str | Path | None, target: Path, *, force: bool = False,
            kept: bool = True, sha256: str | None = None, option: str = "--output") -> None:
    """Copy the file at `source` (a finished render, a frame) to `target`: write a new
    file next to it, check the target is still absent or (with `force`) a regular file,
    then put the copy in its place (no-replace when it was absent, so a file, FIFO or
    symlink appearing meanwhile is not overwritten either). `kept`: the source stays
    where it is (the failure message says so). `sha256`: the bytes copied must hash to
    it, else OperationFailed and nothing is written."""
    if not source:
        raise OperationFailed("the job has no output file to copy")

    def write(tmp: Path) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            copied = _copy_hashing(src, out)
        if sha256 is not None and copied != sha256:
            raise OperationFailed(
                f"{source} does not match the SHA-256 recorded when it was made: it was "
                "changed in storage since (nothing was written; render it again)")

    publish_with(write, target, force=force, option=option,
                 where=f" (it is still at {source})" if kept else "")


def publish_with(write: Callable[[Path], None], target: Path, *, force: bool = False,
                 where: str = "", option: str = "--output") -> None:
    """Put a new file at `target`: `write(tmp)` creates and fills the new file `tmp`
    beside it (raising if its bytes are wrong), then it is put in place as `publish`
    does. Nothing is left behind on any failure; `where` ends an OSError's message."""
    _refuse_special(target, when=" (it changed while rendering)")
    if not force and os.path.lexists(target):
        _refuse_existing(target, when=" (it appeared while rendering)", option=option)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
    try:
        write(tmp)
        _refuse_special(target, when=" (it changed while rendering)")
        _put_in_place(tmp, target, force=force, option=option)
    except OSError as exc:
        raise OperationFailed(f"could not write {target}: {exc.strerror or exc}{where}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def publish_output(job, target: Path, *, force: bool = False,  # type: ignore[no-untyped-def]
                   option: str = "--output") -> None:
    """Copy a completed job's output (a JobView) to `target`, checked against the
    output's SHA-256 recorded by the render (services.renders.outputs.fetch).
    OperationFailed (nothing written) if it has none or the bytes differ."""
    from rendercli.cli import context
    from rendercli.services.renders import outputs

    if not job.output_path:
        raise OperationFailed("the job has no output file to copy")
    outputs.check_fetchable(job)
    publish_with(lambda tmp: outputs.fetch(context.app().store(), job, tmp), target,
                 force=force, option=option)


def write_stdout(job) -> None:  # type: ignore[no-untyped-def]
    """Write a completed job's output to stdout (`-o -`), only once all of it is
    verified: it is fetched to a temporary file in storage first."""
    import shutil
    import sys

    from rendercli import storage
    from rendercli.cli import context
    from rendercli.services.renders import outputs

    outputs.check_fetchable(job)
    settings = context.app().settings
    tmp = storage.tmp_dir(settings.storage_dir) / storage.temp_name(settings.storage_dir,
                                                                    "stage-", ".out")
    try:
        outputs.fetch(context.app().store(), job, tmp)
        with open(tmp, "rb") as src:
            shutil.copyfileobj(src, sys.stdout.buffer, outputs.CHUNK)
        sys.stdout.buffer.flush()
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _copy_hashing(src: BinaryIO, out: BinaryIO) -> str:

    digest = hashlib.sha256()
    while chunk := src.read(1024 * 1024):
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest()


def _put_in_place(tmp: Path, target: Path, *, force: bool, option: str) -> None:
    if force and os.path.lexists(target):
        os.replace(tmp, target)  # a regular file, checked just before
        return
    try:
        os.link(tmp, target)  # fails if anything appeared at `target` since the check
    except FileExistsError:
        _refuse_special(target, when=" (it changed while rendering)")
        if not force:
            _refuse_existing(target, when=" (it appeared while rendering)", option=option)
        os.replace(tmp, target)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if not force and os.path.lexists(target):
            _refuse_existing(target, when=" (it appeared while rendering)", option=option)
        os.replace(tmp, target)  # a file system without hard links


def default_name(name: str, suffix: str) -> Path:
    """A file name in the current directory made from a project's name (user text: only
    letters, digits, `.`, `_` and `-` are kept) and `suffix`, e.g. `holiday-2.5s.png`."""
    stem = re.sub(r"[^\w.-]+", "-", name, flags=re.ASCII).strip("-.") or "project"
    return Path(f"{stem[:80]}{suffix}")
