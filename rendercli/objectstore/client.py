"""The boto3 client for a bucket, and botocore's errors turned into rendercli's.

boto3 is imported here only, when a command or worker first touches a bucket (it takes
a few hundred milliseconds to import). Credentials come from the standard AWS chain
(environment, profile, instance role). For servers other than AWS, boto3's default
request checksums are switched to ``when_required``: many S3-compatible servers reject
the newer checksum headers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rendercli.errors import OperationFailed, StoreAccessDenied, StoreUnavailable

if TYPE_CHECKING:
    from rendercli.config import Settings

CONNECT_TIMEOUT = 5.0  # seconds to open a connection to the server
READ_TIMEOUT = 60.0  # seconds a response may stall
MAX_ATTEMPTS = 3  # botocore's standard retry mode, for throttling and dropped connections
MAX_POOL = 32  # connections kept per client (parallel parts and files)
DEFAULT_REGION = "us-east-1"
_DENIED = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch",
           "InvalidToken", "ExpiredToken", "AllAccessDisabled", "Forbidden"}
_MISSING = {"404", "NoSuchKey", "NotFound"}
# What each client call needs in an IAM policy (named in "access denied" messages).
PERMISSIONS = {
    "head_object": "s3:GetObject (and s3:ListBucket, to tell a missing object)",
    "get_object": "s3:GetObject",
    "put_object": "s3:PutObject",
    "create_multipart_upload": "s3:PutObject",
    "upload_part": "s3:PutObject",
    "complete_multipart_upload": "s3:PutObject",
    "abort_multipart_upload": "s3:AbortMultipartUpload",
    "list_multipart_uploads": "s3:ListBucketMultipartUploads",
    "list_parts": "s3:ListMultipartUploadParts",
    "delete_object": "s3:DeleteObject",
    "head_bucket": "s3:ListBucket",
    "list_objects_v2": "s3:ListBucket",
}


@dataclass(frozen=True)
class Bucket:
    """Where objects go: a client, the bucket and the key prefix ("" or ending in "/")."""

    client: Any  # a boto3 S3 client (thread-safe; shared by parallel transfers)
    name: str
    prefix: str
    endpoint: str | None  # None: AWS

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def where(self) -> str:
        server = f" at {self.endpoint}" if self.endpoint else ""
        return f"s3://{self.name}/{self.prefix}{server}"


def make_bucket(settings: Settings) -> Bucket:
    """A client for the bucket of RENDERCLI_STORAGE_URL."""
    import boto3
    from botocore.config import Config

    assert settings.s3_bucket is not None
    session = boto3.session.Session()
    options: dict[str, Any] = {}
    if settings.s3_endpoint_url is not None:
        options = {"request_checksum_calculation": "when_required",
                   "response_checksum_validation": "when_required",
                   "s3": {"addressing_style": "path"}}
    config = Config(
        region_name=settings.s3_region or session.region_name or DEFAULT_REGION,
        connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        max_pool_connections=MAX_POOL, signature_version="s3v4", **options,
    )
    client = session.client("s3", endpoint_url=settings.s3_endpoint_url, config=config)
    return Bucket(client, settings.s3_bucket, settings.s3_prefix, settings.s3_endpoint_url)


def error_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ClientError ("" for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    code = response.get("Error", {}).get("Code")
    return str(code) if code is not None else ""


def is_missing(exc: BaseException) -> bool:
    return error_code(exc) in _MISSING


def is_precondition_failed(exc: BaseException) -> bool:
    """An If-None-Match create that found the object already there (or a concurrent
    conditional write in progress: AWS says ConditionalRequestConflict)."""
    return error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict")


def translate(exc: BaseException, bucket: Bucket, operation: str, name: str) -> Exception:
    """One line for a failed call: unreachable, access denied, or what the server said."""
    from botocore import exceptions as bex

    if isinstance(exc, bex.NoCredentialsError | bex.PartialCredentialsError):
        return StoreAccessDenied(
            f"no S3 credentials for {bucket.where}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with an instance role")
    if isinstance(exc, bex.EndpointConnectionError | bex.ConnectionError
                  | bex.HTTPClientError):
        return StoreUnavailable(f"cannot reach object storage {bucket.where}: {exc}")
    code = error_code(exc)
    if code in _DENIED:
        return StoreAccessDenied(
            f"access denied to {bucket.where} ({operation} {name}): the credentials need "
            f"{PERMISSIONS.get(operation, 's3:' + operation)} on {bucket.name}/{bucket.prefix}*")
    if code == "NoSuchBucket" or (operation == "head_bucket" and code in _MISSING):
        return StoreUnavailable(f"bucket {bucket.name} does not exist ({bucket.where})")
    status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout") or (
            isinstance(status, int) and status >= 500):
        return StoreUnavailable(f"object storage {bucket.where} failed: {code or status}")
    detail = getattr(exc, "response", {}).get("Error", {}).get("Message") or str(exc)
    return OperationFailed(f"object storage {bucket.where}: {operation} {name} failed: "
                           f"{code or type(exc).__name__}: {detail}"[:400])


@contextlib.contextmanager
def calling(bucket: Bucket, operation: str, name: str) -> Iterator[None]:
    """Run client calls, raising rendercli's one-line errors for botocore's."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise translate(exc, bucket, operation, name) from exc


def head_size(bucket: Bucket, name: str) -> int | None:
    """The size of ``name`` in the bucket, or None if it is not there."""
    from botocore.exceptions import ClientError

    with calling(bucket, "head_object", name):
        try:
            answer = bucket.client.head_object(Bucket=bucket.name, Key=bucket.key(name))
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
    return int(answer["ContentLength"])
