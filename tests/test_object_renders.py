"""Renders on a machine whose storage directory does not hold the inputs: they come from
the bucket (verified), or the render fails naming the asset. Real ffmpeg renders of tiny
generated media, a real S3 HTTP API."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import av
import pytest

from tests.conftest import Account, S3Storage
from tests.media_factory import make_image, make_video

FAST = ["--preset", "480p", "--fps", "10", "--quality", "draft"]
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("s3-render-media")
    return {"a": make_video(d / "a.mp4", duration=1.0), "still": make_image(d / "still.png")}


def forget_storage(tmp_path: Path) -> Path:
    """This machine loses its whole storage dir (another machine, a fresh VM)."""
    storage = tmp_path / "data" / "storage"
    for path in storage.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(storage)
    return storage


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_render_fetches_its_inputs_from_the_bucket(s3_storage: S3Storage, alice: Account,
                                                   clips: dict[str, Path],
                                                   tmp_path: Path) -> None:
    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(clips["a"]), str(clips["still"]), "--duration", "1")
    storage = forget_storage(tmp_path)

    job = json.loads(alice.ok("render", "submit", "film", *FAST, "--json").stdout)
    assert job["status"] == "completed"
    assert job["output_duration"] == pytest.approx(2.0, abs=0.11)
    assert job["output_path"] == f"{s3_storage.url}outputs/{job['id']}.mp4"  # in the bucket
    assert decoded_frames(storage / "renders" / f"{job['id']}.mp4") == 20
    fetched = sorted(p.name for p in (storage / "objects").rglob("*") if p.is_file())
    assert fetched == sorted(hashlib.sha256(p.read_bytes()).hexdigest()
                             for p in clips.values())


def test_replaced_object_fails_the_render_naming_the_asset(
        s3_storage: S3Storage, alice: Account, clips: dict[str, Path], tmp_path: Path) -> None:
    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(clips["a"]), str(clips["still"]), "--duration", "1")
    storage = forget_storage(tmp_path)
    clip = f"objects/{hashlib.sha256(clips['a'].read_bytes()).hexdigest()}"
    s3_storage.put(clip, clips["still"].read_bytes())  # valid media, the wrong bytes

    result = alice("render", "submit", "film", *FAST, "--json")
    assert result.exit_code == 1
    job = json.loads(result.stdout)
    assert job["status"] == "failed" and "\n" not in job["error"]
    assert job["error"].startswith("a.mp4: the stored file does not match its hash")
    assert not (storage / "objects" / clip[8:10] / clip[8:]).exists()  # nothing cached
    assert not [p for p in (storage / "objects").rglob("*") if clip[8:] in p.name]
