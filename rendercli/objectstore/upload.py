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
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rendercli.objectstore.client import Bucket, calling, is_precondition_failed
from rendercli.objectstore.transfer import Progress

MiB = 1024 * 1024
MULTIPART_THRESHOLD = 64 * MiB  # files this big or bigger go multipart
MIN_PART_SIZE = 16 * MiB
MAX_PARTS = 10_000  # S3's limit
PART_WORKERS = 8  # parts of one file uploaded at once


def part_size(size: int) -> int:
    """The part size for a file of ``size`` bytes (a whole number of MiB, at least 16)."""
    return max(MIN_PART_SIZE, math.ceil(size / MAX_PARTS / MiB) * MiB)


def upload_file(bucket: Bucket, name: str, path: Path, *,
                progress: Progress | None = None) -> int:
    """Upload ``path`` as ``name`` unless it exists; returns the bytes sent."""
    size = path.stat().st_size
    if size >= MULTIPART_THRESHOLD:
        return _multipart(bucket, name, path, size, progress)
    key = bucket.key(name)
    from botocore.exceptions import ClientError

    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) != size:
        raise OSError(f"{path} changed size while it was read")
    try:
        with calling(bucket, "put_object", name):
            try:
                bucket.client.put_object(Bucket=bucket.name, Key=key, Body=data,
                                         IfNoneMatch="*")
            except ClientError as exc:
                if is_precondition_failed(exc):
                    return 0
                raise
    finally:
        del data
    if progress is not None:
        progress(size)
    return size


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
    from botocore.exceptions import ClientError

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
        try:
            bucket.client.complete_multipart_upload(
                Bucket=bucket.name, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": parts}, IfNoneMatch="*")
        except ClientError as exc:
            if not is_precondition_failed(exc):
                raise
            # Another uploader created it first: theirs stays, ours is dropped.
            bucket.client.abort_multipart_upload(Bucket=bucket.name, Key=key,
                                                 UploadId=upload_id)
            return 0
    return sent
