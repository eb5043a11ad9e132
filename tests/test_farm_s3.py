"""A farm without a shared disk: the bucket (a real S3 HTTP API, moto's server mode) is
the only thing machines share. Renders publish their segments, cached renders and
outputs there; `jobs download` and `jobs url` read the output from it, verified."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import Account, S3Storage
from tests.media_factory import make_image, make_video

FAST = ["--preset", "480p", "--fps", "10", "--quality", "draft"]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("s3-media")
    return {
        "a": make_video(d / "a.mp4", duration=1.0, tone=330),
        "b": make_video(d / "b.mp4", duration=1.0, tone=550, pattern="testsrc"),
        "still": make_image(d / "still.png"),
    }


def status(account: Account, job_id: str) -> dict:
    return json.loads(account.ok("jobs", "status", job_id, "--json").stdout)


# ---- one machine with a bucket (the embedded default renders inline) -----------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_inline_render_publishes_to_the_bucket_and_downloads_from_it(
        s3_storage: S3Storage, alice: Account, media: dict[str, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    alice.ok("project", "create", "trip")
    alice.ok("asset", "add", "trip", str(media["a"]), str(media["still"]), "--duration", "1")
    job = json.loads(alice.ok("render", "submit", "trip", *FAST, "--json").stdout)
    name = f"outputs/{job['id']}.mp4"
    assert job["output_url"] == f"{s3_storage.url}{name}"
    keys = s3_storage.keys()
    assert name in keys and f"outputs/{job['id']}.jpg" in keys
    segments = [k for k in keys if k.startswith("segments/")]
    renders = [k for k in keys if k.startswith("renders/")]
    # Each segment (the clip, the still) with its sidecar; the render, poster, sidecar.
    assert sorted(k.rsplit(".", 1)[1] for k in segments) == ["json", "json", "mp4", "mp4"]
    assert sorted(k.rsplit(".", 1)[1] for k in renders) == ["jpg", "json", "mp4"]
    shown = alice.ok("jobs", "status", job["id"]).stdout
    assert f"output:    {s3_storage.url}{name}\n" in shown

    bucket_bytes = s3_storage.client().get_object(
        Bucket=s3_storage.bucket, Key=s3_storage.prefix + name)["Body"].read()
    assert hashlib.sha256(bucket_bytes).hexdigest() == job["output_sha256"]
    # The download comes from the bucket: the local copy is gone.
    from rendercli.config import get_settings

    (get_settings().storage_dir / "renders" / f"{job['id']}.mp4").unlink()
    monkeypatch.chdir(tmp_path)
    alice.ok("jobs", "download", job["id"], "-o", "copy.mp4")
    assert (tmp_path / "copy.mp4").read_bytes() == bucket_bytes

    link = alice.ok("jobs", "url", job["id"], "--expires", "1h").stdout.strip()
    assert link.startswith(s3_storage.server.url) and "Expires=3600" in link
    with urllib.request.urlopen(link, timeout=10) as answer:
        assert answer.read() == bucket_bytes
    as_json = json.loads(alice.ok("jobs", "url", job["id"], "--expires", "90m",
                                  "--json").stdout)
    assert as_json["expires_in"] == 5400 and "Expires=5400" in as_json["url"]
    too_long = alice("jobs", "url", job["id"], "--expires", "8d")
    assert too_long.exit_code == 2 and "7 days" in too_long.stderr

    # Replaced in the bucket with other bytes of the same size: refused, nothing written.
    s3_storage.client().put_object(Bucket=s3_storage.bucket, Key=s3_storage.prefix + name,
                                   Body=bytes(len(bucket_bytes)))
    result = alice("jobs", "download", job["id"], "-o", "bad.mp4")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "does not match the SHA-256 recorded" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".mp4")) == [
        "copy.mp4"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_url_of_another_farm_or_job_is_never_followed(
        s3_storage: S3Storage, alice: Account, media: dict[str, Path], database_url: str,
        tmp_path: Path) -> None:
    from tests.test_storage_safety import insert_job, new_id

    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(media["a"]))
    for url in (f"s3://other-bucket/{s3_storage.prefix}outputs/JOB.mp4",
                f"{s3_storage.url}outputs/{new_id()}.mp4",
                f"{s3_storage.url}objects/{'0' * 64}"):
        job_id = new_id()
        insert_job(database_url, "film", job_id, output_url=url.replace("JOB", job_id),
                   output_size=8, output_sha256="0" * 64)
        shown = status(alice, job_id)
        assert shown["output_path"] is None and "not its file in storage" in shown["error"]
        refused = alice("jobs", "download", job_id, "-o", str(tmp_path / "x.mp4"))
        assert refused.exit_code == 5 and not (tmp_path / "x.mp4").exists()
        assert alice("jobs", "url", job_id).exit_code == 5


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_without_a_bucket_the_link_is_the_files_uri(alice: Account,
                                                    media: dict[str, Path]) -> None:
    alice.ok("project", "create", "trip")
    alice.ok("asset", "add", "trip", str(media["a"]))
    job = json.loads(alice.ok("render", "submit", "trip", *FAST, "--json").stdout)
    link = alice.ok("jobs", "url", job["id"]).stdout.strip()
    assert link == Path(job["output_path"]).resolve().as_uri()
    assert job["output_url"].startswith("file://")
