"""Create-only uploads: one PUT for small files, parallel multipart for large ones, and
a multipart upload left behind by a failure is resumed (only its missing parts are sent).

Both end with a conditional create (``If-None-Match: *``): when another uploader created
the object first, theirs stays and ours is dropped, so two uploaders of the same content
never clobber each other. Part sizes depend only on the file size, so a retry after a
failure finds the parts it already sent (checked by number, size and ETag, the MD5 of
the part's bytes) and sends the others.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rendercli.errors import OperationFailed
from rendercli.objectstore.client import (
    Bucket,
    calling,
    error_code,
    head_size,
    is_precondition_failed,
)
from rendercli.objectstore.transfer import Progress

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MULTIPART_THRESHOLD = 64 * MiB  # files this big or bigger go multipart
MIN_PART_SIZE = 8 * MiB  # as boto3's upload_file; S3's own minimum is 5 MiB
MAX_PARTS = 10_000  # S3's limit
PART_WORKERS = 8  # parts of one file uploaded at once


def part_size(size: int) -> int:
    """The part size for a file of ``size`` bytes (a whole number of MiB, at least 8)."""
    return max(MIN_PART_SIZE, math.ceil(size / MAX_PARTS / MiB) * MiB)


def upload_file(bucket: Bucket, name: str, path: Path, *,
                progress: Progress | None = None) -> int:
    """Upload ``path`` as ``name`` unless it exists; returns the bytes sent."""
    size = path.stat().st_size
    if size >= MULTIPART_THRESHOLD:
        try:
            return _multipart(bucket, name, path, size, progress)
        except OperationFailed as exc:
            # Another uploader of the same content finished the upload we resumed
            # (both found it pending): the object is there, which is all we wanted.
            if error_code(exc.__cause__) == "NoSuchUpload" and head_size(bucket, name) is not None:
                return 0
            raise
    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) != size:
        raise OSError(f"{path} changed size while it was read")
    try:
        with calling(bucket, "put_object", name):
            created = _create_only(bucket.client.put_object, Bucket=bucket.name,
                                   Key=bucket.key(name), Body=data)
    finally:
        del data
    if not created:
        return 0
    if progress is not None:
        progress(size)
    return size


def _create_only(call: Callable[..., Any], **kwargs: Any) -> bool:
    """``call`` (put_object, complete_multipart_upload) with ``If-None-Match: *``; False
    when the object was there first (then nothing was written). A server that does not
    implement the condition (some S3-compatible ones answer 501) gets the plain call:
    names are content hashes, so an object it replaces should hold the same bytes, and
    every reader checks them."""
    from botocore.exceptions import ClientError

    try:
        call(IfNoneMatch="*", **kwargs)
        return True
    except ClientError as exc:
        if is_precondition_failed(exc):
            return False
        if error_code(exc) not in ("NotImplemented", "501"):
            raise
    log.warning("the S3 server does not support If-None-Match on writes: %s is "
                "written unconditionally", kwargs.get("Key"))
    call(**kwargs)
    return True


def _read_part(path: Path, number: int, part: int, size: int) -> bytes:
    offset = (number - 1) * part
    length = min(part, size - offset)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.pread(fd, length, offset)
    finally:
        os.close(fd)
    if len(data) != length:
        raise OSError(f"{path} changed size while it was uploaded")
    return data


def _pending(bucket: Bucket, name: str) -> tuple[str | None, dict[int, tuple[int, str]]]:
    """The newest unfinished multipart upload of ``name`` and its parts
    ({number: (size, etag)}), or (None, {})."""
    key = bucket.key(name)
    uploads: list[dict] = []
    with calling(bucket, "list_multipart_uploads", name):
        paginator = bucket.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=bucket.name, Prefix=key):
            uploads += [u for u in page.get("Uploads", []) if u.get("Key") == key]
    if not uploads:
        return None, {}
    newest = max(uploads, key=lambda u: u.get("Initiated") or 0)
    upload_id = str(newest["UploadId"])
    parts: dict[int, tuple[int, str]] = {}
    with calling(bucket, "list_parts", name):
        paginator = bucket.client.get_paginator("list_parts")
        for page in paginator.paginate(Bucket=bucket.name, Key=key, UploadId=upload_id):
            for p in page.get("Parts", []):
                parts[int(p["PartNumber"])] = (int(p["Size"]), str(p["ETag"]).strip('"'))
    return upload_id, parts


def _multipart(bucket: Bucket, name: str, path: Path, size: int,
               progress: Progress | None) -> int:

    key = bucket.key(name)
    part = part_size(size)
    count = math.ceil(size / part)
    upload_id, sent_before = _pending(bucket, name)
    if upload_id is None:
        with calling(bucket, "create_multipart_upload", name):
            upload_id = bucket.client.create_multipart_upload(
                Bucket=bucket.name, Key=key)["UploadId"]
    etags: dict[int, str] = {}

    def send(number: int) -> int:
        data = _read_part(path, number, part, size)
        kept = sent_before.get(number)
        if kept is not None and kept == (len(data), hashlib.md5(data).hexdigest()):
            etags[number] = kept[1]  # sent by an earlier, interrupted upload
            if progress is not None:
                progress(len(data))
            return 0
        with calling(bucket, "upload_part", name):
            answer = bucket.client.upload_part(Bucket=bucket.name, Key=key,
                                               UploadId=upload_id, PartNumber=number,
                                               Body=data)
        etags[number] = str(answer["ETag"]).strip('"')
        if progress is not None:
            progress(len(data))
        return len(data)

    with ThreadPoolExecutor(max_workers=PART_WORKERS) as pool:
        sent = sum(pool.map(send, range(1, count + 1)))
    parts = [{"PartNumber": n, "ETag": f'"{etags[n]}"'} for n in range(1, count + 1)]
    with calling(bucket, "complete_multipart_upload", name):
        created = _create_only(bucket.client.complete_multipart_upload, Bucket=bucket.name,
                               Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    if not created:
        # Another uploader created it first: theirs stays, ours is dropped.
        with calling(bucket, "abort_multipart_upload", name):
            bucket.client.abort_multipart_upload(Bucket=bucket.name, Key=key,
                                                 UploadId=upload_id)
        return 0
    return sent
