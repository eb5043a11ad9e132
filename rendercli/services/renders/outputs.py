"""A completed job's output: which stored object it is, and a verified copy of it.

`jobs download`, `render submit --wait --output` and `render batch --output-dir` copy a
job's output through `fetch`: the bytes are checked against the `output_sha256` recorded
when the render finished before the copy appears under its name, and a mismatch leaves
nothing behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rendercli.errors import Conflict, OperationFailed

if TYPE_CHECKING:
    from rendercli.config import Settings
    from rendercli.objectstore import ObjectStore
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


def fetch(store: ObjectStore, view: JobView, dest: Path) -> None:
    """Write the job's output to the new file `dest` (it must not exist), verified
    against `output_sha256`: from the bucket, or the storage directory. OperationFailed
    (and no `dest`) when the bytes differ, Conflict when the output is no longer there."""
    from rendercli.errors import ObjectCorrupt, ObjectMissing

    check_fetchable(view)
    name = output_name_of(view)
    try:
        store.download(name, dest, sha256=view.output_sha256)
    except ObjectMissing:
        raise Conflict(f"job {view.id}'s output is no longer in storage "
                       f"({view.output_path})") from None
    except ObjectCorrupt:
        raise mismatch(view.output_path or name) from None


def output_name_of(view: JobView) -> str:
    """The store name of the job's output (``outputs/<job id>.<ext>``), from its
    recorded URL (already checked to be this job's file, see views)."""
    from urllib.parse import unquote, urlparse

    from rendercli.objectstore.names import output_name

    assert view.output_url is not None
    ext = Path(unquote(urlparse(view.output_url).path)).suffix.lstrip(".")
    return output_name(view.id, ext)


def location(settings: Settings, name: str) -> str:
    """Where an object is, as recorded in a job row: an ``s3://BUCKET/PREFIX/NAME`` URL
    with a bucket, else the ``file://`` URI of its local path."""
    from rendercli.objectstore.names import local_path

    if settings.storage_url is not None:
        return f"s3://{settings.s3_bucket}/{settings.s3_prefix}{name}"
    return local_path(settings.storage_dir, name).resolve().as_uri()


def publish_render(store: ObjectStore, settings: Settings, job_id: str, output: Path,
                   poster: Path) -> tuple[str, str]:
    """Make a job's just-rendered output and poster (in ``renders/``) available to the
    farm (uploaded to the bucket; nothing to do on a shared directory). Returns their
    (output_url, poster_url) for the job row."""
    from rendercli.objectstore.names import output_name

    urls = []
    for path in (output, poster):
        name = output_name(job_id, path.suffix.lstrip("."))
        store.publish(name, path)
        urls.append(location(settings, name))
    return urls[0], urls[1]


def link(store: ObjectStore, view: JobView, *, expires: int) -> str:
    """A link to the job's output for sharing: a presigned GET valid `expires` seconds
    (a bucket), or the file's ``file://`` URI (a shared directory)."""
    check_fetchable(view)
    return store.url(output_name_of(view), expires=expires)
