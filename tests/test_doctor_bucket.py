"""`rendercli doctor` with RENDERCLI_STORAGE_URL: the bucket is reachable, the credentials
work, a probe object is written, read back and deleted, the clocks agree, and the
checksum setting for S3-compatible servers is named. Against a real S3 HTTP API."""

from __future__ import annotations

import email.utils
import json
import socket
import time

import pytest

from rendercli.objectstore.health import MAX_CLOCK_SKEW, _clock
from tests.conftest import Account, S3Storage

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def checks(result) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {c["name"]: c for c in json.loads(result.stdout)["checks"]}


@SQLITE
def test_doctor_checks_the_bucket(s3_storage: S3Storage, alice: Account) -> None:
    result = alice("doctor", "--json")
    assert result.exit_code == 0, result.stdout
    found = checks(result)
    names = list(found)
    assert names[names.index("storage") + 1:names.index("ffmpeg")] == [
        "object storage", "bucket write", "clock", "checksums"]
    assert found["object storage"]["ok"]
    assert s3_storage.url in found["object storage"]["detail"]
    assert found["bucket write"]["ok"] and "deleted" in found["bucket write"]["detail"]
    assert found["clock"]["ok"]
    checksums = found["checksums"]
    assert not checksums["ok"] and not checksums["required"]
    assert 'when_required' in checksums["detail"]
    assert s3_storage.url in found["configuration"]["detail"]
    assert s3_storage.keys() == []  # the probe is gone
    human = alice("doctor").stdout
    assert "✓ object storage: " in human and "! checksums: " in human


@SQLITE
def test_doctor_with_an_unreachable_bucket(s3_storage: S3Storage, alice: Account,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("RENDERCLI_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    result = alice("doctor", "--json")
    assert result.exit_code == 1
    found = checks(result)
    assert not found["object storage"]["ok"] and found["object storage"]["required"]
    assert found["object storage"]["detail"].startswith("cannot reach object storage")
    assert "RENDERCLI_S3_ENDPOINT_URL" in found["object storage"]["hint"]
    assert "bucket write" not in found


@SQLITE
def test_doctor_with_a_missing_bucket(s3_storage: S3Storage, alice: Account,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENDERCLI_STORAGE_URL", "s3://no-such-bucket-here/farm")
    result = alice("doctor", "--json")
    assert result.exit_code == 1
    detail = checks(result)["object storage"]["detail"]
    assert detail.startswith("bucket no-such-bucket-here does not exist")


def test_clock_skew_is_a_warning() -> None:
    def answer(offset: float) -> dict:
        date = email.utils.formatdate(time.time() + offset, usegmt=True)
        return {"ResponseMetadata": {"HTTPHeaders": {"date": date}}}

    assert _clock(answer(-30)).ok
    late = _clock(answer(-(MAX_CLOCK_SKEW + 60)))
    assert not late.ok and not late.required and "ahead of" in late.detail
    assert "NTP" in (late.hint or "")
    assert not _clock({}).ok
