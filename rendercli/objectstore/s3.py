"""The S3 backend: a bucket is the farm's source of truth, the storage directory a
bounded read-through cache of it (see rendercli.objectstore)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rendercli import storage
from rendercli.errors import ObjectMissing
from rendercli.objectstore.client import Bucket, calling, head_size, is_missing, make_bucket
from rendercli.objectstore.fetch_cache import FetchCache
from rendercli.objectstore.names import KINDS, check_name, local_path, name_digest
from rendercli.objectstore.transfer import Progress, copy_verified, write_verified
from rendercli.objectstore.upload import upload_file

if TYPE_CHECKING:
    from rendercli.config import Settings

MAX_URL_EXPIRY = 7 * 86400  # S3's limit for presigned URLs (SigV4)


class S3Store:
    """Objects in a bucket, cached in the storage directory."""

    remote = True

    def __init__(self, storage_dir: Path, bucket: Bucket, cache_limit: int) -> None:
        self.storage_dir = Path(storage_dir)
        self.bucket = bucket
        self.cache = FetchCache(self.storage_dir, cache_limit, self._fetch, self._confirm,
                                _remember)

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        return cls(settings.storage_dir, make_bucket(settings), settings.cache_limit)

    def head(self, name: str) -> int | None:
        """The size of ``name`` in the bucket, or None if it is not there."""
        return head_size(self.bucket, check_name(name))

    def exists(self, name: str) -> bool:
        return self.head(name) is not None

    def page(self, kind: str, *, after: str = "", limit: int = 1000
             ) -> tuple[list[tuple[str, int, float]], str | None]:
        """One listing request (at most ``limit`` <= 1000 keys) of the names of ``kind``
        (``objects``, ...) after the name ``after``: ([(name, size, last modified as a
        Unix time)], the name to continue after, or None at the end). Keys that are not
        valid names are left out (never handed to a deleter)."""
        if kind not in KINDS or not 1 <= limit <= 1000:
            raise ValueError(f"bad listing: {kind!r}, {limit}")
        start = self.bucket.key(f"{kind}/")
        # `after` may be a key of any shape that an earlier page ended on: only bounded.
        options = ({"StartAfter": self.bucket.key(after)}
                   if after.startswith(f"{kind}/") and len(after) <= 1024
                   and after.isprintable() else {})
        with calling(self.bucket, "list_objects_v2", f"{kind}/"):
            answer = self.bucket.client.list_objects_v2(
                Bucket=self.bucket.name, Prefix=start, MaxKeys=limit, **options)
        found: list[tuple[str, int, float]] = []
        last = None
        for item in answer.get("Contents", []):
            key = str(item.get("Key", ""))
            name = key[len(self.bucket.prefix):] if key.startswith(start) else ""
            last = name or last
            try:
                check_name(name)
            except storage.UnsafePath:
                continue
            found.append((name, int(item.get("Size", 0)),
                          item["LastModified"].timestamp()))
        return found, (last if answer.get("IsTruncated") and last else None)

    def publish(self, name: str, path: Path, *, progress: Progress | None = None) -> int:
        check_name(name)
        if self.exists(name):
            return 0
        with calling(self.bucket, "put_object", name):
            return upload_file(self.bucket, name, Path(path), progress=progress)

    def _stream(self, name: str):  # -> botocore StreamingBody
        from botocore.exceptions import ClientError

        with calling(self.bucket, "get_object", name):
            try:
                answer = self.bucket.client.get_object(Bucket=self.bucket.name,
                                                       Key=self.bucket.key(check_name(name)))
            except ClientError as exc:
                if is_missing(exc):
                    raise ObjectMissing(
                        f"object {name} is missing from {self.bucket.where}") from None
                raise
        return answer["Body"]

    def _fetch(self, name: str, tmp: Path, sha256: str | None) -> None:
        body = self._stream(name)
        try:
            with calling(self.bucket, "get_object", name):
                write_verified(name, body, tmp, sha256=sha256)
        finally:
            body.close()

    def _confirm(self, name: str, size: int) -> bool:
        try:
            return self.head(name) == size
        except Exception:  # unreachable or denied: keep the local copy
            return False

    def localize(self, name: str, *, sha256: str | None = None) -> Path:
        return self.cache.localize(name, sha256=sha256)

    @contextlib.contextmanager
    def localized(self, wanted: Mapping[str, str | None]) -> Iterator[dict[str, Path]]:
        with self.cache.held(wanted) as paths:
            yield paths

    def remove(self, name: str, *, reason: str) -> bool:
        size = self.head(name)
        if size is not None:
            storage.record_deletion(self.storage_dir, name, reason, size)
            with calling(self.bucket, "delete_object", name):
                self.bucket.client.delete_object(Bucket=self.bucket.name,
                                                 Key=self.bucket.key(name))
        with contextlib.suppress(FileNotFoundError):
            local_path(self.storage_dir, name).unlink()
        return size is not None

    def download(self, name: str, dest: Path, *, sha256: str | None,
                 progress: Progress | None = None) -> None:
        body = self._stream(name)
        try:
            with calling(self.bucket, "get_object", name):
                copy_verified(name, body, Path(dest), sha256=sha256 or name_digest(name),
                              progress=progress)
        finally:
            body.close()

    def url(self, name: str, *, expires: int) -> str:
        if not 1 <= expires <= MAX_URL_EXPIRY:
            from rendercli.errors import InvalidInput

            raise InvalidInput(f"a link may last from 1 second to 7 days, got {expires} s")
        with calling(self.bucket, "get_object", name):
            return str(self.bucket.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket.name,
                                      "Key": self.bucket.key(check_name(name))},
                ExpiresIn=expires))


def _remember(path: Path, sha256: str) -> None:
    """Tell the hash memo a fetched file's bytes were just checked: the engine's own
    check before it reads them (rendercli.render.verify) then does not hash them again."""
    import os

    from rendercli.media.hash_memo import default_memo, identity

    with contextlib.suppress(OSError):
        default_memo().put(identity(os.stat(path)), sha256)
