"""A farm without a shared disk: the bucket (a real S3 HTTP API, moto's server mode) is
the only thing machines share. Renders publish their segments, cached renders and
outputs there; `jobs download` and `jobs url` read the output from it, verified."""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import Account, S3Storage
from tests.farm import Farm, wait_for
from tests.media_factory import make_image, make_video
from tests.test_farm_parallel import probe

FAST = ["--preset", "480p", "--fps", "10", "--quality", "draft"]
SLOW = ["--preset", "720p", "--fps", "30", "--quality", "high", "--no-cache"]


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


# ---- a farm: two workers and the CLI, three storage directories, one bucket -------------

SPLIT = ["--preset", "480p", "--fps", "25", "--quality", "draft"]


@pytest.fixture(scope="module")
def farm_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("s3-farm-media")
    return {
        "a": make_video(d / "a.mp4", duration=1.0, tone=330),
        "b": make_video(d / "b.mp4", duration=1.0, tone=550, pattern="testsrc"),
        "still": make_image(d / "still.png"),
        "long": make_video(d / "long.mp4", duration=4.0, size=(320, 240)),
    }


def s3_workers(farm: Farm, tmp_path: Path, *names: str, **env: str) -> dict[str, Path]:
    """Start `rendercli worker`s, each with its own storage directory (returned by name),
    and wait until RQ lists them all (so a render splits)."""
    from rq import Worker

    from rendercli.services.renders.dispatch import redis_connection, render_queue

    dirs = {}
    for name in names:
        dirs[name] = tmp_path / f"machine-{name}" / "storage"
        farm.start_worker(name, via="rendercli",
                          env={"RENDERCLI_STORAGE_DIR": str(dirs[name]), **env})
    conn = redis_connection(farm.redis.url)
    wait_for(lambda: Worker.count(connection=conn, queue=render_queue(conn)) >= len(names),
             60, f"{len(names)} workers to register")
    return dirs


def frame_sums(path: Path) -> list[str]:
    """The MD5 of each decoded video frame (ffmpeg's framemd5)."""
    from rendercli.media.ffmpeg_binary import ffmpeg_path

    out = subprocess.run([ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-i", str(path),
                          "-map", "0:v", "-f", "framemd5", "-"],
                         capture_output=True, text=True, check=True).stdout
    return [line.rsplit(",", 1)[1].strip() for line in out.splitlines()
            if line and not line.startswith("#")]


def files_under(directory: Path, folder: str) -> list[Path]:
    return sorted(p for p in (directory / folder).rglob("*") if p.is_file()) if (
        directory / folder).is_dir() else []


def watch_ok(account: Account, job_id: str, farm: Farm, timeout: int = 240) -> None:
    watched = account("jobs", "watch", job_id, "--interval", "0.3", "--timeout", str(timeout))
    assert watched.exit_code == 0, (watched.stdout, watched.stderr, farm.logs())


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.slow
def test_a_split_render_on_machines_sharing_only_a_bucket_equals_a_shared_disk_farm(
        s3_storage: S3Storage, alice: Account, farm_media: dict[str, Path], farm: Farm,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rendercli.config import get_settings

    monkeypatch.setenv("RENDERCLI_CHUNK_SECONDS", "1")
    cli_dir = get_settings().storage_dir
    alice.ok("project", "create", "split")
    alice.ok("asset", "add", "split", str(farm_media["a"]), str(farm_media["long"]),
             str(farm_media["still"]), str(farm_media["b"]), "--duration", "1")
    dirs = s3_workers(farm, tmp_path, "east", "west")
    assert len({cli_dir, *dirs.values()}) == 3
    s3_out = tmp_path / "s3.mp4"  # --wait --output: downloaded from the bucket, verified
    submitted = alice("render", "submit", "split", *SPLIT, "--wait", "--output", str(s3_out),
                      "--json")
    assert submitted.exit_code == 0, (submitted.stdout, submitted.stderr, farm.logs())
    job_id = json.loads(submitted.stdout)["id"]
    job = status(alice, job_id)
    assert job["tasks_done"] == job["tasks_total"] == 9
    assert sorted(job["workers"]) == ["east", "west"], job["workers"]
    assert job["output_url"] == f"{s3_storage.url}outputs/{job_id}.mp4"
    # The assemble joined segments the other machine encoded: it fetched them.
    tasks = json.loads(alice.ok("jobs", "logs", job_id, "--json").stdout)["tasks"]
    assembler = next(t["worker_name"] for t in tasks if t["kind"] == "assemble")
    encoded_elsewhere = [t for t in tasks if t["kind"] == "segment"
                         and t["worker_name"] != assembler]
    assert encoded_elsewhere, tasks
    assert len(files_under(dirs[assembler], "cache/segments")) >= 2 * 7  # + sidecars
    # Every machine has the inputs it rendered from, fetched once, and nothing else shared.
    for directory in dirs.values():
        objects = files_under(directory, "objects")
        assert objects and all(p.name == hashlib.sha256(p.read_bytes()).hexdigest()
                               for p in objects)
    assert hashlib.sha256(s3_out.read_bytes()).hexdigest() == job["output_sha256"]

    # The same project on a farm sharing one storage directory (no bucket).
    farm.stop_all()
    monkeypatch.delenv("RENDERCLI_STORAGE_URL")
    for name in ("north", "south"):
        farm.start_worker(name, via="rendercli", env={"RENDERCLI_STORAGE_URL": ""})
    shared_id = alice.ok("render", "submit", "split", *SPLIT, "--no-cache").stdout.strip()
    watch_ok(alice, shared_id, farm)
    shared = status(alice, shared_id)
    assert shared["output_url"].startswith("file://")
    shared_out = Path(shared["output_path"])
    s3_frames, s3_duration = probe(s3_out)
    assert s3_frames == 25 * 7 and (s3_frames, s3_duration) == probe(shared_out)
    sums = frame_sums(s3_out)
    assert len(sums) == 25 * 7 and sums == frame_sums(shared_out)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.slow
def test_an_object_replaced_in_the_bucket_fails_the_render_naming_it(
        s3_storage: S3Storage, alice: Account, farm_media: dict[str, Path], farm: Farm,
        tmp_path: Path) -> None:
    alice.ok("project", "create", "swap")
    alice.ok("asset", "add", "swap", str(farm_media["a"]), str(farm_media["still"]),
             "--duration", "1")
    sha = hashlib.sha256(farm_media["still"].read_bytes()).hexdigest()
    still_key = f"{s3_storage.prefix}objects/{sha}"
    size = len(farm_media["still"].read_bytes())
    s3_storage.client().put_object(Bucket=s3_storage.bucket, Key=still_key,
                                   Body=b"\x89PNG" + bytes(size - 4))
    dirs = s3_workers(farm, tmp_path, "east", "west")
    job_id = alice.ok("render", "submit", "swap", *FAST).stdout.strip()
    watched = alice("jobs", "watch", job_id, "--interval", "0.3", "--timeout", "120")
    assert watched.exit_code == 1, (watched.stdout, farm.logs())
    job = status(alice, job_id)
    assert job["status"] == "failed" and job["output_url"] is None
    assert "still.png" in job["error"] and "does not match its hash" in job["error"]
    for directory in dirs.values():  # the bad bytes were cached nowhere
        assert not [p for p in files_under(directory, "objects") if p.name == sha]
        assert not files_under(directory, "renders")
    in_bucket = s3_storage.keys()
    assert not [k for k in in_bucket if k.startswith("outputs/")]


def big_still(path: Path) -> Path:
    """A 6000x4000 PNG of noise, stored uncompressed (~72 MB): a fetch long enough to be
    caught half-way."""
    from rendercli.media.ffmpeg_binary import ffmpeg_path

    subprocess.run([ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-f", "rawvideo",
                    "-pix_fmt", "rgb24", "-s", "6000x4000", "-i", "/dev/urandom",
                    "-frames:v", "1", "-compression_level", "0", str(path)], check=True)
    return path


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.slow
def test_a_worker_killed_mid_download_caches_nothing_and_the_render_finishes_elsewhere(
        s3_storage: S3Storage, alice: Account, farm_media: dict[str, Path], farm: Farm,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from rendercli import storage
    from rendercli.objectstore import local_path, object_name

    monkeypatch.setenv("RENDERCLI_HEARTBEAT_INTERVAL", "0.5")
    monkeypatch.setenv("RENDERCLI_HEARTBEAT_TIMEOUT", "3")
    still = big_still(tmp_path / "big.png")
    sha = hashlib.sha256(still.read_bytes()).hexdigest()
    alice.ok("project", "create", "big")
    alice.ok("asset", "add", "big", str(still), "--duration", "1")
    in_bucket = s3_storage.keys()
    assert f"objects/{sha}" in in_bucket
    dirs = s3_workers(farm, tmp_path, "first", "second")
    procs = dict(zip(dirs, farm.workers, strict=True))
    final = {name: local_path(d, object_name(sha)) for name, d in dirs.items()}
    job_id = alice.ok("render", "submit", "big", *FAST).stdout.strip()

    def partial(name: str) -> list[Path]:  # a fetch under way: tmp/stage-...-fetch-<sha>
        tmp = dirs[name] / "tmp"
        return [p for p in tmp.iterdir() if p.name.endswith(f"-fetch-{sha}")] if (
            tmp.is_dir()) else []

    deadline = time.monotonic() + 60
    fetching = None
    while fetching is None and time.monotonic() < deadline:  # a tight watch, not a sleep
        fetching = next((name for name in dirs if partial(name)), None)
    assert fetching is not None, farm.logs()
    farm.kill(procs[fetching])  # kill -9: the worker, its work horse, the download
    assert not final[fetching].exists()  # nothing under the final name
    leftovers = partial(fetching)
    assert leftovers and all(p.stat().st_size < still.stat().st_size for p in leftovers)
    # The dead process's partial download is owner-tagged: a sweep removes it once the
    # kernel has released the dead processes' locks.
    wait_for(lambda: storage.clean_temp_files(dirs[fetching]) and not partial(fetching), 20,
             "the sweep to remove the partial download")

    def handed_on() -> bool:
        alice.ok("jobs", "list")  # a jobs command: runs the stale recovery and dispatch
        return status(alice, job_id)["status"] in ("completed", "failed")

    wait_for(handed_on, 120, "the render to finish on the other worker", interval=0.5)
    job = status(alice, job_id)
    assert job["status"] == "completed", (job, farm.logs())
    survivor = next(name for name in dirs if name != fetching)
    # The job is split (a segment and the soundtrack): the segment task was fetching.
    tasks = json.loads(alice.ok("jobs", "logs", job_id, "--json").stdout)["tasks"]
    redone = [t for t in tasks if t["attempts"] == 2]
    assert [t["kind"] for t in redone] == ["segment"], tasks
    assert redone[0]["worker_name"] == survivor and redone[0]["state"] == "completed"
    assert final[survivor].read_bytes() == still.read_bytes()
    assert not final[fetching].exists()


class Cable:
    """A TCP forwarder between rendercli and the S3 server that a test can unplug (every
    connection cut, new ones refused) and plug back on the same port: an outage of the
    bucket as the network sees it."""

    def __init__(self, upstream: str) -> None:
        import socket
        import threading
        from urllib.parse import urlsplit

        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        probe_socket = socket.socket()
        probe_socket.bind(("127.0.0.1", 0))
        self.port = probe_socket.getsockname()[1]
        probe_socket.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def plug(self) -> None:
        import socket
        import threading

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def unplug(self) -> None:
        import socket

        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener) -> None:  # type: ignore[no-untyped-def]
        import socket
        import threading

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source, sink) -> None:  # type: ignore[no-untyped-def]
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(1)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.slow
def test_a_bucket_outage_during_a_render_is_retried_like_a_worker_loss(
        s3_storage: S3Storage, alice: Account, farm: Farm, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    cable = Cable(str(s3_storage.server.url))
    cable.plug()
    monkeypatch.setenv("RENDERCLI_S3_ENDPOINT_URL", cable.url)
    monkeypatch.setenv("RENDERCLI_HEARTBEAT_INTERVAL", "0.5")
    monkeypatch.setenv("RENDERCLI_HEARTBEAT_TIMEOUT", "3")
    monkeypatch.setenv("RENDERCLI_CHUNK_SECONDS", "3")
    clip = make_video(tmp_path / "slow.mp4", duration=9.0, size=(640, 360), fps=30)
    alice.ok("project", "create", "outage")
    alice.ok("asset", "add", "outage", str(clip))
    dirs = s3_workers(farm, tmp_path, "solo", RENDERCLI_FARM_SPLIT="never")
    job_id = alice.ok("render", "submit", "outage", *SLOW).stdout.strip()
    try:
        wait_for(lambda: status(alice, job_id)["progress"] > 0, 120, "the render to start")
        cable.unplug()  # the bucket is gone while segments encode (and wait to be published)
        wait_for(lambda: "cannot reach object storage" in farm.logs(), 120,
                 "the worker to meet the outage")
        during = status(alice, job_id)
        assert during["status"] in ("processing", "queued"), during  # not failed
        assert not during["error"]
    finally:
        cable.plug()

    def done() -> bool:
        alice.ok("jobs", "list")  # a jobs command: runs the stale recovery and dispatch
        return status(alice, job_id)["status"] in ("completed", "failed", "cancelled")

    wait_for(done, 240, "the render to be retried and finish", interval=0.5)
    job = status(alice, job_id)
    assert job["status"] == "completed", (job, farm.logs())
    assert job["attempts"] == 2 and not job["error"]
    assert "attempt 1 lost: worker solo stopped" in alice.ok("jobs", "logs", job_id).stdout
    out = tmp_path / "out.mp4"
    alice.ok("jobs", "download", job_id, "-o", str(out))
    assert probe(out)[0] == 9 * 30
    assert (dirs["solo"] / "renders" / f"{job_id}.mp4").is_file()
