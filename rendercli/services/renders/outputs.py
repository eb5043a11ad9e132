"""A completed job's output: which stored object it is, and a verified copy of it.

`jobs download`, `render submit --wait --output` and `render batch --output-dir` copy a
job's output through `fetch`: the bytes are checked against the `output_sha256` recorded
when the render finished before the copy appears under its name, and a mismatch leaves
nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from rendercli.errors import Conflict, OperationFailed

if TYPE_CHECKING:
    from rendercli.config import Settings
    from rendercli.services.renders.views import JobView

CHUNK = 1024 * 1024


def mismatch(what: str) -> OperationFailed:
    """The one message for an output whose bytes are not the ones recorded."""
    return OperationFailed(
        f"{what} does not match the SHA-256 recorded when it was made: it was changed in "
        "storage since (nothing was written; render it again)")


def check_fetchable(view: JobView) -> None:
    """Conflict unless the job completed with an output on record (and its SHA-256)."""
    if view.status != "completed":
        raise Conflict(f"job {view.id} is {view.status}: only a completed job has a video "
                       "to download")
    if view.output_path is None:
        raise Conflict(f"job {view.id} has no output file in storage: {view.error or 'gone'}")
    if not view.output_sha256:
        raise OperationFailed(f"job {view.id} has no recorded SHA-256 for its output, so it "
                              "cannot be checked (nothing was written)")


def fetch(settings: Settings, view: JobView, dest: Path) -> None:
    """Write the job's output to the new file `dest` (it must not exist), verified
    against `output_sha256`. OperationFailed (and no `dest`) when the bytes differ,
    Conflict when the output is no longer in storage."""
    check_fetchable(view)
    assert view.output_path is not None and view.output_sha256 is not None
    source = Path(view.output_path)
    try:
        src = open(source, "rb")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        raise Conflict(f"job {view.id}'s output is no longer in storage "
                       f"({view.output_path})") from None
    with src:
        _copy_verified(src, dest, view.output_sha256, str(source))


def _copy_verified(src, dest: Path, sha256: str, what: str) -> None:  # type: ignore[no-untyped-def]
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise mismatch(what)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        raise
