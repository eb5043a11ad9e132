"""Renders on a machine whose storage directory does not hold the inputs: they come from
the bucket (verified), or the render fails naming the asset. Real ffmpeg renders of tiny
generated media, a real S3 HTTP API."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
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


def test_unreachable_bucket_during_a_render_is_an_outage_not_bad_input(
        s3_storage: S3Storage, alice: Account, clips: dict[str, Path], farm,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that cannot reach the bucket leaves the job processing, for the stale
    heartbeat recovery to hand on (as if the worker died), and does not fail it."""
    from rendercli.app import App
    from rendercli.errors import StoreUnavailable
    from rendercli.services.renders import execute

    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(clips["a"]), str(clips["still"]), "--duration", "1")
    job = json.loads(alice.ok("render", "submit", "film", *FAST, "--json").stdout)
    assert job["status"] == "queued"
    forget_storage(tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("RENDERCLI_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")

    with pytest.raises(StoreUnavailable, match="cannot reach object storage"):
        execute.execute(job["id"], worker_name="w-offline",
                        uow=App.for_worker().unit_of_work())
    status = json.loads(alice.ok("jobs", "status", job["id"], "--json").stdout)
    assert status["status"] == "processing" and not status.get("error")


def test_render_frame_and_storyboard_fetch_their_inputs(
        s3_storage: S3Storage, alice: Account, clips: dict[str, Path], tmp_path: Path) -> None:
    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(clips["a"]), str(clips["still"]), "--duration", "1")
    storage = forget_storage(tmp_path)
    frame, board = tmp_path / "frame.png", tmp_path / "board.png"
    alice.ok("render", "frame", "film", "--at", "1.5", "-o", str(frame), "--preset", "480p")
    alice.ok("project", "storyboard", "film", "-o", str(board), "--preset", "480p")
    with av.open(str(frame)) as container:
        picture = next(container.decode(video=0))
        assert (picture.width, picture.height) == (854, 480)
        pixels = bytes(picture.reformat(format="rgb24").planes[0])
    assert len(set(pixels[::97])) > 10  # a picture, not a blank
    with av.open(str(board)) as container:
        assert next(container.decode(video=0)).width > 0
    assert len([p for p in (storage / "objects").rglob("*") if p.is_file()]) == 2
