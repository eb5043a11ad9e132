"""`rendercli doctor`'s look at the bucket: reachable, credentials accepted, a probe object
written, read back and deleted, the server's clock, and the checksum setting rendercli
uses for S3-compatible servers."""

from __future__ import annotations

import email.utils
import secrets
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rendercli.errors import RenderCliError, StoreAccessDenied
from rendercli.objectstore.client import Bucket, calling, make_bucket

if TYPE_CHECKING:
    from rendercli.config import Settings

MAX_CLOCK_SKEW = 300.0  # seconds; S3 refuses requests signed 15 min off, warn well before
PROBE_DIR = "doctor/"  # under the prefix: doctor's probe objects (policies allow it)


@dataclass(frozen=True)
class Finding:
    """One check's answer (services.doctor turns it into a Check)."""

    name: str
    ok: bool
    detail: str
    hint: str | None = None
    required: bool = True


def _hint(exc: RenderCliError) -> str:
    if isinstance(exc, StoreAccessDenied):
        return ("check the AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                "AWS_PROFILE or the instance role) and the policy (README, \"Object "
                "storage (S3)\")")
    return ("check RENDERCLI_STORAGE_URL, RENDERCLI_S3_ENDPOINT_URL and that the server is "
            "up; renders wait and retry while it is away")


def check_bucket(settings: Settings) -> list[Finding]:
    """Every bucket check; none raises."""
    try:
        bucket = make_bucket(settings)
        with calling(bucket, "head_bucket", ""):
            answer = bucket.client.head_bucket(Bucket=bucket.name)
    except RenderCliError as exc:
        return [Finding("object storage", False, exc.message, _hint(exc))]
    except Exception as exc:  # a broken AWS profile, say: still one line
        return [Finding("object storage", False, f"cannot use {settings.storage_url}: "
                        f"{' '.join(str(exc).split())[:200]}", None)]
    found = [Finding("object storage", True,
                     f"{bucket.where}: reachable, credentials accepted")]
    found.append(_probe(bucket))
    found.append(_clock(answer))
    if bucket.endpoint is not None:
        found.append(Finding(
            "checksums", False,
            f"{bucket.endpoint} is not AWS: rendercli sends and checks S3 checksums only "
            "when required (request_checksum_calculation=\"when_required\"), since many "
            "S3-compatible servers reject boto3's default ones; its own SHA-256 checks "
            "guard every object either way",
            "other tools on this bucket (aws cli, boto3 scripts) may need "
            "AWS_REQUEST_CHECKSUM_CALCULATION=when_required", required=False))
    return found


def _probe(bucket: Bucket) -> Finding:
    """Write, read back and delete a small object under ``<prefix>doctor/``."""
    key = f"{bucket.prefix}{PROBE_DIR}probe-{socket.gethostname()[:40]}-{secrets.token_hex(6)}"
    body = secrets.token_bytes(64)
    step = "put_object"
    try:
        with calling(bucket, step, key):
            bucket.client.put_object(Bucket=bucket.name, Key=key, Body=body, IfNoneMatch="*")
        step = "get_object"
        with calling(bucket, step, key):
            read = bucket.client.get_object(Bucket=bucket.name, Key=key)["Body"].read()
        if read != body:
            return Finding("bucket write", False, f"{key}: read back other bytes than "
                           "were written", "the server or a proxy alters objects")
        step = "delete_object"
        with calling(bucket, step, key):
            bucket.client.delete_object(Bucket=bucket.name, Key=key)
    except RenderCliError as exc:
        left = f"; the probe {key} may be left behind" if step == "delete_object" else ""
        return Finding("bucket write", False, exc.message + left, _hint(exc),
                       required=step != "delete_object")
    return Finding("bucket write", True, f"wrote, read back and deleted {key}")


def _clock(answer: dict[str, Any]) -> Finding:
    """The server's clock against ours (its Date header)."""
    header = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        server = email.utils.parsedate_to_datetime(str(header)).timestamp()
    except (TypeError, ValueError):
        return Finding("clock", False, "the server sent no usable Date header",
                       required=False)
    skew = time.time() - server
    detail = (f"this machine is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} "
              "the server")
    if abs(skew) > MAX_CLOCK_SKEW:
        return Finding("clock", False, detail, "sync the clock (NTP): S3 refuses requests "
                       "signed more than 15 minutes off", required=False)
    return Finding("clock", True, detail, required=False)
