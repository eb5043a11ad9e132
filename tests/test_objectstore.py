"""The object store against a real S3 HTTP API (moto's server mode): create-only uploads,
verified fetches into a storage directory, one-line errors. Two storage directories
stand for two machines that share nothing but the bucket."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import pytest

from rendercli.config import read_settings
from rendercli.errors import ObjectCorrupt, ObjectMissing, StoreUnavailable
from rendercli.media.hash_memo import default_memo, identity
from rendercli.objectstore import local_path, object_name, open_store
from rendercli.objectstore import upload as upload_module
from rendercli.objectstore.s3 import S3Store
from rendercli.storage import UnsafePath
from tests.conftest import S3Storage


def store_at(s3: S3Storage, storage_dir: Path, **extra: str) -> S3Store:
    settings = read_settings({**s3.env(), "RENDERCLI_STORAGE_DIR": str(storage_dir), **extra})
    store = open_store(settings)
    assert isinstance(store, S3Store) and store.remote
    return store


def put_local(storage_dir: Path, data: bytes) -> tuple[str, Path]:
    """An object at its canonical local path, as an ingest leaves it."""
    name = object_name(hashlib.sha256(data).hexdigest())
    path = local_path(storage_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return name, path


def leftovers(directory: Path) -> list[str]:
    """Files under a storage dir, but for lock files (fetch locks, owner tags)."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")
                  if p.is_file() and p.suffix != ".lock")


def test_published_object_is_fetched_on_another_machine(s3_storage: S3Storage,
                                                        tmp_path: Path) -> None:
    data = os.urandom(300_000)
    here, there = store_at(s3_storage, tmp_path / "a"), store_at(s3_storage, tmp_path / "b")
    name, path = put_local(tmp_path / "a", data)

    assert here.publish(name, path) == len(data)
    assert here.publish(name, path) == 0  # already there: nothing sent
    assert s3_storage.keys() == [name]
    assert there.exists(name) and not there.exists(object_name("0" * 64))

    fetched = there.localize(name)
    assert fetched == local_path(tmp_path / "b", name)
    assert fetched.read_bytes() == data
    # Checked while fetched: the hash memo knows it, so renders do not hash it again.
    assert default_memo().get(identity(fetched.stat())) == hashlib.sha256(data).hexdigest()
    assert leftovers(tmp_path / "b") == [str(fetched.relative_to(tmp_path / "b"))]


def test_create_only_never_clobbers(s3_storage: S3Storage, tmp_path: Path) -> None:
    """The object another uploader made first stays, even when our existence check
    missed it (the conditional create itself refuses)."""
    store = store_at(s3_storage, tmp_path / "a")
    name, path = put_local(tmp_path / "a", b"ours" * 1000)
    s3_storage.put(name, b"theirs")

    assert store.publish(name, path) == 0
    assert upload_module.upload_file(store.bucket, name, path) == 0  # If-None-Match: *
    assert s3_storage.get(name) == b"theirs"


def test_multipart_upload_is_conditional_and_resumes(
        s3_storage: S3Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mib = 1024 * 1024
    monkeypatch.setattr(upload_module, "MULTIPART_THRESHOLD", 5 * mib)
    monkeypatch.setattr(upload_module, "MIN_PART_SIZE", 5 * mib)
    data = os.urandom(12 * mib)  # parts of 5, 5 and 2 MiB
    store = store_at(s3_storage, tmp_path / "a")
    name, path = put_local(tmp_path / "a", data)
    # An earlier upload died after sending part 1 (and a wrong part 2).
    client, key = s3_storage.client(), s3_storage.prefix + name
    upload_id = client.create_multipart_upload(Bucket=s3_storage.bucket, Key=key)["UploadId"]
    for number, body in ((1, data[:5 * mib]), (2, b"x" * 5 * mib)):
        client.upload_part(Bucket=s3_storage.bucket, Key=key, UploadId=upload_id,
                           PartNumber=number, Body=body)

    assert store.publish(name, path) == len(data) - 5 * mib  # part 1 was not sent again
    assert hashlib.sha256(s3_storage.get(name)).hexdigest() == name.split("/")[1]
    assert client.list_multipart_uploads(Bucket=s3_storage.bucket).get("Uploads", []) == []

    # Another multipart uploader finds it there: its complete is refused, object kept.
    other = tmp_path / "other"
    other.write_bytes(os.urandom(11 * mib))
    assert upload_module.upload_file(store.bucket, name, other) == 0
    assert hashlib.sha256(s3_storage.get(name)).hexdigest() == name.split("/")[1]


def test_tampered_object_is_refused_and_not_cached(s3_storage: S3Storage,
                                                   tmp_path: Path) -> None:
    here, there = store_at(s3_storage, tmp_path / "a"), store_at(s3_storage, tmp_path / "b")
    name, path = put_local(tmp_path / "a", b"the real bytes" * 500)
    here.publish(name, path)
    s3_storage.put(name, b"other bytes")  # a bad writer replaced it

    with pytest.raises(ObjectCorrupt, match=name):
        there.localize(name)
    assert not local_path(tmp_path / "b", name).exists()
    assert leftovers(tmp_path / "b") == []  # no partial file either
    # A segment checked against its recorded hash: the same.
    segment = f"segments/{'a' * 64}.mp4"
    s3_storage.put(segment, b"not the segment")
    with pytest.raises(ObjectCorrupt, match=segment):
        there.localize(segment, sha256=hashlib.sha256(b"the segment").hexdigest())
    assert leftovers(tmp_path / "b") == []


def test_missing_object_and_bad_names(s3_storage: S3Storage, tmp_path: Path) -> None:
    store = store_at(s3_storage, tmp_path / "a")
    with pytest.raises(ObjectMissing, match="missing"):
        store.localize(object_name("b" * 64))
    for bad in ("objects/../../etc/passwd", f"objects/{'A' * 64}", "segments/x.mp4",
                f"renders/{'a' * 64}.exe", "outputs/../x.mp4", "tmp/x"):
        with pytest.raises(UnsafePath):
            store.exists(bad)
    assert leftovers(tmp_path / "a") == []


def test_unreachable_bucket_is_one_clear_line(s3_storage: S3Storage, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = store_at(s3_storage, tmp_path / "a",
                     RENDERCLI_S3_ENDPOINT_URL=f"http://127.0.0.1:{port}")
    name, path = put_local(tmp_path / "a", b"data")
    with pytest.raises(StoreUnavailable) as caught:
        store.publish(name, path)
    message = caught.value.message
    assert "\n" not in message and f"127.0.0.1:{port}" in message
    assert message.startswith(f"cannot reach object storage s3://{s3_storage.bucket}/farm/")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("RENDERCLI_STORAGE_URL", "s3://Bad_Bucket/x", "must be s3://BUCKET or s3://BUCKET/PREFIX"),
    ("RENDERCLI_STORAGE_URL", "s3://bucket/../up", "must be s3://BUCKET or s3://BUCKET/PREFIX"),
    ("RENDERCLI_STORAGE_URL", "/mnt/share", "must be s3://BUCKET or s3://BUCKET/PREFIX"),
    ("RENDERCLI_S3_ENDPOINT_URL", "ftp://host", "must be an http:// or https:// URL"),
    ("RENDERCLI_S3_REGION", "eu west", "must be a region name"),
    ("RENDERCLI_CACHE_LIMIT", "0", "must be a size from 1 byte to 1 PB"),
    ("RENDERCLI_CACHE_LIMIT", "10 parsecs", "must be a size from 1 byte to 1 PB"),
])
def test_object_storage_settings_are_checked(cli, name: str, value: str, message: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from rendercli.errors import InvalidInput

    with pytest.raises(InvalidInput, match=message):
        read_settings({name: value})
    monkeypatch.setenv(name, value)
    result = cli("doctor")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {name} ") and result.stderr.count("\n") == 1


def test_object_storage_settings_read() -> None:
    settings = read_settings({"RENDERCLI_STORAGE_URL": "s3://studio.renders/a/b/",
                              "RENDERCLI_CACHE_LIMIT": "1.5GiB"})
    assert (settings.s3_bucket, settings.s3_prefix) == ("studio.renders", "a/b/")
    assert settings.cache_limit == 1536 * 1024 * 1024
    assert read_settings({"RENDERCLI_CACHE_LIMIT": "10GB"}).cache_limit == 10 * 1000**3
    plain = read_settings({})
    assert plain.storage_url is None and plain.s3_prefix == "" and not plain.s3_bucket
    assert plain.cache_limit == 20 * 1000**3
    assert not open_store(plain).remote
