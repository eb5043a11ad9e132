"""Owner markers for temporary files in storage, so a sweep can tell whose they are.

A process that makes temporary files under ``<storage>/tmp`` (staged copies, render work
directories, ``.tmp-`` outputs, concat lists) first takes an *owner tag*: 16 random hex
digits, and a lock file ``tmp/owner-<tag>.lock`` that it holds an exclusive ``flock`` on
for the rest of its life. It writes the hostname and pid into that file. Every temporary
name it makes carries the tag.

A sweep asks :func:`owner_state` about a tag:

- ``ALIVE``: the lock is held (flock is released by the kernel however a process dies,
  ``kill -9`` included, so a held lock means a live process);
- ``DEAD``: the lock file is ours to take on this host: its owner is gone;
- ``UNKNOWN``: no lock file (names from older versions), or it was written on another
  host. A shared farm storage may sit on a filesystem whose locks don't reach across
  machines, so other hosts' files are left to an age limit instead.
"""

from __future__ import annotations

import atexit
import contextlib
import enum
import fcntl
import os
import re
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

TAG_RE = re.compile(r"[0-9a-f]{16}")
LOCK_PREFIX = "owner-"
LOCK_SUFFIX = ".lock"


class OwnerState(enum.Enum):
    ALIVE = "alive"
    DEAD = "dead"
    UNKNOWN = "unknown"


@dataclass
class _Owner:
    pid: int
    tag: str
    fd: int
    path: Path


_owners: dict[Path, _Owner] = {}  # per tmp dir, for this process only


def lock_path(tmp_dir: Path, tag: str) -> Path:
    return tmp_dir / f"{LOCK_PREFIX}{tag}{LOCK_SUFFIX}"


def tag_of_lock_file(name: str) -> str | None:
    """The tag of an ``owner-<tag>.lock`` name, else None."""
    if name.startswith(LOCK_PREFIX) and name.endswith(LOCK_SUFFIX):
        tag = name[len(LOCK_PREFIX) : -len(LOCK_SUFFIX)]
        if TAG_RE.fullmatch(tag):
            return tag
    return None


def owner_tag(tmp_dir: Path) -> str:
    """This process's tag for temporary files in ``tmp_dir`` (made on first use).

    ``tmp_dir`` must exist. A forked child gets a tag of its own: its parent's lock says
    nothing about whether the child is alive.
    """
    key = tmp_dir.absolute()
    owner = _owners.get(key)
    if owner is not None and owner.pid == os.getpid():
        return owner.tag
    if owner is not None:  # inherited across fork: not ours to hold or remove
        with contextlib.suppress(OSError):
            os.close(owner.fd)
    tag = secrets.token_hex(8)
    final = lock_path(tmp_dir, tag)
    # Locked under a private name first, then renamed: a sweep never sees it unlocked.
    staging = tmp_dir / f".{LOCK_PREFIX}{tag}.new"
    fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        # The name is new, so nobody holds it; on a filesystem without locks this fails
        # and sweeps fall back to an age limit for our files.
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"{socket.gethostname()}\n{os.getpid()}\n".encode())
        os.replace(staging, final)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            staging.unlink()
        raise
    _owners[key] = _Owner(os.getpid(), tag, fd, final)
    return tag


def owner_state(tmp_dir: Path, tag: str) -> tuple[OwnerState, int | None]:
    """Whether the process behind ``tag`` is alive. With ``DEAD`` comes an open, locked
    descriptor of its lock file: pass it to :func:`release_dead` once its files are gone
    (holding it keeps a second sweep off the same files)."""
    own = _owners.get(tmp_dir.absolute())
    if own is not None and own.tag == tag and own.pid == os.getpid():
        return OwnerState.ALIVE, None
    path = lock_path(tmp_dir, tag)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return OwnerState.UNKNOWN, None
    except OSError:
        return OwnerState.ALIVE, None  # cannot tell: keep its files
    try:
        host = os.pread(fd, 300, 0).split(b"\n", 1)[0].decode(errors="replace")
        if host != socket.gethostname():
            os.close(fd)
            return OwnerState.UNKNOWN, None
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return OwnerState.ALIVE, None
    except OSError:  # no locks on this filesystem: cannot tell, leave it to the age limit
        os.close(fd)
        return OwnerState.UNKNOWN, None
    return OwnerState.DEAD, fd


def release_dead(tmp_dir: Path, tag: str, fd: int) -> None:
    """Remove a dead owner's lock file (still holding its lock), then let go of it."""
    try:
        with contextlib.suppress(FileNotFoundError):
            lock_path(tmp_dir, tag).unlink()
    finally:
        os.close(fd)


@atexit.register
def _release_own_locks() -> None:
    """On a normal exit, drop this process's lock files (a kill leaves them to a sweep)."""
    for owner in list(_owners.values()):
        if owner.pid != os.getpid():
            continue
        with contextlib.suppress(OSError):
            owner.path.unlink()
        with contextlib.suppress(OSError):
            os.close(owner.fd)
    _owners.clear()
