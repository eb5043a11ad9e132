"""Uploads to a bucket (RENDERCLI_STORAGE_URL) from `asset add` and `apply`: only what the
bucket lacks is sent, and a row exists only once its object is in the bucket. Against a
real S3 HTTP API (moto's server mode)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

from rendercli.app import App
from rendercli.services import assets, identity
from rendercli.services.uploads import Uploaded
from tests.conftest import Account, S3Storage
from tests.media_factory import make_image, make_video
from tests.servers import S3Server
from tests.terminal import Terminal

SPEC = """\
version: 1
output: {preset: 480p, format: mp4, fps: 10, quality: draft}
timeline:
  - media: intro.mp4
  - media: photo.png
    duration: 2
"""


class Recorder:
    """An UploadProgress that remembers what each upload reported."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.total = 0
        self.advanced = 0
        self.results: list[Uploaded | None] = []

    def begin(self, files: int, total: int) -> None:
        self.total += total

    def advance(self, done: int) -> None:
        with self.lock:
            self.advanced += done

    def end(self, uploaded: Uploaded | None) -> None:
        self.results.append(uploaded)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("upload-media")
    make_video(folder / "intro.mp4", duration=1.0, size=(160, 120))
    make_image(folder / "photo.png", size=(160, 120))
    make_image(folder / "other.png", size=(96, 64))
    return folder


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def adder(account: Account) -> tuple[App, str]:
    app = App.from_environment().acting_as(account.token)
    return app, identity.authenticate(app.unit_of_work(), account.token).id


def local_objects(tmp_path: Path) -> list[Path]:
    root = tmp_path / "data" / "storage" / "objects"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_asset_add_uploads_only_what_the_bucket_lacks(
        s3_storage: S3Storage, alice: Account, media: Path, tmp_path: Path) -> None:
    alice.ok("project", "create", "trip")
    app, user_id = adder(alice)
    clip, photo, other = media / "intro.mp4", media / "photo.png", media / "other.png"
    sent = Recorder()

    assets.add(app.unit_of_work(), user_id, "trip", [clip, photo], uploads=sent)
    both = clip.stat().st_size + photo.stat().st_size
    assert sent.results == [Uploaded(files=2, bytes=both, present=0)]
    assert s3_storage.keys() == sorted(f"objects/{sha(p)}" for p in (clip, photo))
    assert s3_storage.get(f"objects/{sha(clip)}") == clip.read_bytes()

    # The same files again (even on a machine whose storage dir lost them): 0 bytes.
    for path in local_objects(tmp_path):
        path.unlink()
    assets.add(app.unit_of_work(), user_id, "trip", [clip, photo], uploads=sent)
    assert sent.results[-1] == Uploaded(files=0, bytes=0, present=2)
    # One new file among known ones: only it is sent.
    assets.add(app.unit_of_work(), user_id, "trip", [clip, other], uploads=sent)
    assert sent.results[-1] == Uploaded(files=1, bytes=other.stat().st_size, present=1)
    assert len(s3_storage.keys()) == 3
    assert sent.advanced == sent.total  # the bar reaches its end, sent or found
    assert len(json.loads(alice.ok("asset", "list", "trip", "--json").stdout)["assets"]) == 6


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_apply_uploads_only_the_changed_clip(s3_storage: S3Storage, alice: Account,
                                             media: Path, tmp_path: Path) -> None:
    folder = tmp_path / "video"
    folder.mkdir()
    for name in ("intro.mp4", "photo.png"):
        shutil.copy(media / name, folder / name)
    (folder / "video.yaml").write_text(SPEC, encoding="utf-8")

    def apply() -> dict:
        return json.loads(alice.ok("apply", str(folder / "video.yaml"), "--json").stdout)

    first = apply()
    assert first["uploaded_bytes"] == sum(p.stat().st_size for p in folder.glob("*.*")
                                          if p.suffix != ".yaml")
    again = apply()
    assert (again["applied"], again["uploaded_bytes"]) == (False, 0)
    shutil.copy(media / "other.png", folder / "photo.png")  # one clip changed
    changed = apply()
    assert changed["uploaded_bytes"] == (media / "other.png").stat().st_size
    assert s3_storage.keys() == sorted(
        f"objects/{sha(p)}" for p in (media / "intro.mp4", media / "photo.png",
                                      media / "other.png"))


def test_unreachable_bucket_at_asset_add_leaves_no_asset(
        s3_storage: S3Storage, alice: Account, media: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    alice.ok("project", "create", "trip")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("RENDERCLI_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")

    result = alice("asset", "add", "trip", str(media / "intro.mp4"))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: cannot reach object storage s3://{s3_storage.bucket}/farm/ at "
        f"http://127.0.0.1:{port}")
    assert result.stderr.count("\n") == 1
    monkeypatch.setenv("RENDERCLI_S3_ENDPOINT_URL", str(s3_storage.server.url))
    assert json.loads(alice.ok("asset", "list", "trip", "--json").stdout)["assets"] == []
    assert local_objects(tmp_path) == [] and s3_storage.keys() == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_upload_bar_on_a_terminal_only(s3_storage: S3Storage, alice: Account,
                                       media: Path) -> None:
    alice.ok("project", "create", "trip")
    term = Terminal("asset", "add", "trip", str(media / "intro.mp4"),
                    env={**os.environ, "RENDERCLI_TOKEN": alice.token}, columns=100)
    term.expect("uploading 1 file")
    assert term.wait() == 0
    piped = alice.ok("asset", "add", "trip", str(media / "photo.png"))
    assert "uploading" not in piped.stderr and "uploading" not in piped.stdout
    assert len(s3_storage.keys()) == 2


def forget_storage(tmp_path: Path) -> None:
    """This machine loses its storage dir (objects are read-only: make them removable)."""
    storage = tmp_path / "data" / "storage"
    for path in storage.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(storage, ignore_errors=True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_export_and_apply_by_hash_fetch_from_the_bucket(
        s3_storage: S3Storage, alice: Account, media: Path, tmp_path: Path) -> None:
    folder = tmp_path / "video"
    folder.mkdir()
    for name in ("intro.mp4", "photo.png"):
        shutil.copy(media / name, folder / name)
    (folder / "video.yaml").write_text(SPEC, encoding="utf-8")
    alice.ok("apply", str(folder / "video.yaml"))
    forget_storage(tmp_path)

    out = tmp_path / "out" / "video.yaml"
    out.parent.mkdir()
    alice.ok("project", "export", "video", "-o", str(out))
    for name in ("intro.mp4", "photo.png"):
        assert (out.parent / "video-media" / name).read_bytes() == (media / name).read_bytes()
    by_hash = tmp_path / "by-hash.yaml"
    alice.ok("project", "export", "video", "-o", str(by_hash), "--by-hash")
    forget_storage(tmp_path)
    applied = json.loads(alice.ok("apply", str(by_hash), "--project", "again",
                                  "--json").stdout)
    assert applied["applied"] and applied["uploaded_bytes"] == 0
    assert len(json.loads(alice.ok("asset", "list", "again", "--json").stdout)["assets"]) == 2


BATCH_SPEC = """\
version: 1
output: {preset: 480p, fps: 10, quality: draft, name: "hello-{{ name }}.mp4"}
timeline:
  - title: "Hello {{ name }}"
    duration: 1
  - media: intro.mp4
"""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_render_batch_uploads_its_files_once(s3_storage: S3Storage, alice: Account,
                                             media: Path, tmp_path: Path) -> None:
    folder = tmp_path / "greetings"
    folder.mkdir()
    shutil.copy(media / "intro.mp4", folder / "intro.mp4")
    (folder / "video.yaml").write_text(BATCH_SPEC, encoding="utf-8")
    (folder / "rows.csv").write_text("name\nAna\nBo\n", encoding="utf-8")
    (tmp_path / "out").mkdir()
    alice.ok("render", "batch", str(folder / "video.yaml"), "--data", str(folder / "rows.csv"),
             "--output-dir", str(tmp_path / "out"))
    in_bucket = s3_storage.keys()
    media_objects = [k for k in in_bucket if k.startswith("objects/")]
    assert media_objects == [f"objects/{sha(media / 'intro.mp4')}"]  # sent once
    # Renders publish their cache entries and outputs there too (h22-farm).
    assert len([k for k in in_bucket if k.startswith("outputs/")]) == 4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["hello-Ana.mp4",
                                                                   "hello-Bo.mp4"]


def test_access_denied_at_asset_add_names_bucket_and_permission(
        alice: Account, media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that checks credentials (moto with IAM checks on after one request) and
    keys it does not know: one line naming the bucket, the prefix and the permission."""
    server = S3Server()
    server.start_process({"INITIAL_NO_AUTH_ACTION_COUNT": "1"})
    try:
        bucket = server.create_bucket()  # the one request let through
        storage = S3Storage(server, bucket, "farm/")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-creds"))
        for name, value in storage.env().items():
            monkeypatch.setenv(name, value)
        alice.ok("project", "create", "trip")
        result = alice("asset", "add", "trip", str(media / "intro.mp4"))
        assert result.exit_code == 1
        assert result.stderr.startswith(f"error: access denied to s3://{bucket}/farm/ at "
                                        f"{server.url} (head_object objects/")
        assert "s3:GetObject" in result.stderr and f"on {bucket}/farm/*" in result.stderr
        assert result.stderr.count("\n") == 1
        assert json.loads(alice.ok("asset", "list", "trip", "--json").stdout)["assets"] == []
    finally:
        server.stop()


def test_a_damaged_local_object_is_never_uploaded(s3_storage: S3Storage,
                                                  tmp_path: Path) -> None:
    """A hash-named object in the bucket is never replaced, so bad bytes must not go up."""
    from rendercli.config import read_settings
    from rendercli.errors import OperationFailed
    from rendercli.objectstore import local_path, object_name
    from rendercli.services.uploads import publish_objects

    settings = read_settings({**s3_storage.env(), "RENDERCLI_STORAGE_DIR": str(tmp_path / "s")})
    good = hashlib.sha256(b"the real bytes").hexdigest()
    path = local_path(tmp_path / "s", object_name(good))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"other bytes")
    with pytest.raises(OperationFailed, match="does not match its hash: not uploaded"):
        publish_objects(settings, {good: path})
    assert s3_storage.keys() == []
    path.write_bytes(b"the real bytes")
    assert publish_objects(settings, {good: path}) == Uploaded(files=1, bytes=14)
    assert s3_storage.get(object_name(good)) == b"the real bytes"
