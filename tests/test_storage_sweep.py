"""Crash leftovers: what killed ingests and renders leave in storage is swept soon after
their process is gone (never while it lives), and so are objects no asset references."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from rendercli import storage
from rendercli.config import DEFAULT_ORPHAN_GRACE, get_settings
from rendercli.media import ingest
from rendercli.services.unit_of_work import UnitOfWork
from rendercli.services.upkeep import sweeps
from tests.conftest import Account
from tests.media_factory import make_image, make_video
from tests.terminal import rendercli_executable

T = TypeVar("T")


def wait_for(find: Callable[[], T], what: str, limit: float = 120.0) -> T:
    """Poll until ``find()`` returns something truthy (a wait, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while True:
        found = find()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def storage_dir() -> Path:
    return get_settings().storage_dir


def in_tmp(prefix: str) -> list[Path]:
    tmp = storage_dir() / "tmp"
    return sorted(tmp.glob(f"{prefix}*")) if tmp.is_dir() else []


def temp_leftovers() -> list[Path]:
    """Staged copies, work dirs, .tmp- outputs and concat lists anywhere in storage."""
    found = in_tmp("stage-") + in_tmp("render-")
    return found + [p for p in storage_dir().rglob(".*")
                    if ".tmp-" in p.name or p.name.startswith(".concat-")]


def start(alice: Account, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RENDERCLI_TOKEN": alice.token}
    return subprocess.Popen([rendercli_executable(), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(30)
    if proc.stderr is not None:
        proc.stderr.close()


def ffmpeg_writing_to(directory: Path) -> list[int]:
    """Pids of ffmpeg processes whose command line mentions ``directory``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"ffmpeg" in cmdline and os.fsencode(directory) in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_a_killed_asset_add_is_swept_by_the_next_command(
    alice: Account, database_url: str, tmp_path: Path
) -> None:
    alice.ok("project", "create", "film")
    big = tmp_path / "big.mp4"
    with open(big, "wb") as fh:
        fh.truncate(8 * 1024**3)  # sparse: reading it is fast, it costs no disk
    ours = in_tmp("owner-")  # this test process's own lock, if any
    proc = start(alice, "asset", "add", "film", str(big))
    try:
        staged = wait_for(lambda: [p for p in in_tmp("stage-") if p.stat().st_size > 0],
                          "the copy to start")[0]
        proc.send_signal(signal.SIGSTOP)  # frozen mid-copy, but alive
        assert 0 < staged.stat().st_size < big.stat().st_size
        sweeps.sweep_storage(force_orphans=True, uow=UnitOfWork())
        assert staged.exists(), "a live process's staged copy was swept"
    finally:
        kill(proc)
    assert staged.exists() and in_tmp("owner-") != ours  # what kill -9 leaves

    alice.ok("jobs", "list")

    assert temp_leftovers() == [] and in_tmp("owner-") == ours


@pytest.mark.slow
def test_a_killed_render_is_swept_by_the_next_command(
    alice: Account, database_url: str, tmp_path: Path
) -> None:
    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(make_video(tmp_path / "a.mp4", duration=3.0)),
             str(make_image(tmp_path / "b.png")))
    ours = in_tmp("owner-")  # the in-process `asset add` made this test's own lock
    proc = start(alice, "render", "submit", "film", "--preset", "2160p", "--quality", "high")
    try:
        work = wait_for(lambda: in_tmp("render-"), "the render to start")[0]
        wait_for(lambda: [p for p in temp_leftovers() if ".tmp-" in p.name],
                 "a segment being encoded")
        sweeps.sweep_storage(force_orphans=True, uow=UnitOfWork())
        assert work.is_dir(), "a live render's work directory was swept"
        assert [p for p in temp_leftovers() if ".tmp-" in p.name]
    finally:
        kill(proc)
    wait_for(lambda: not ffmpeg_writing_to(storage_dir()), "ffmpeg to die with its parent")
    leftovers = temp_leftovers()
    assert work in leftovers and any(".concat-" in p.name for p in leftovers)

    alice.ok("jobs", "list")

    assert temp_leftovers() == [] and in_tmp("owner-") == ours


def test_temp_files_of_another_host_wait_for_the_age_limit(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    tag = "0123456789abcdef"
    (tmp / f"owner-{tag}.lock").write_text("another-host\n4242\n")  # nobody holds it here
    staged = tmp / f"stage-{tag}-0123456789"
    staged.write_bytes(b"x")
    assert storage.clean_temp_files(tmp_path, older_than=3600) == 0
    assert staged.exists()
    long_ago = time.time() - 7200
    os.utime(staged, (long_ago, long_ago))
    assert storage.clean_temp_files(tmp_path, older_than=3600) == 1
    assert not staged.exists()


def test_a_dead_owner_on_this_host_is_swept_at_once(tmp_path: Path) -> None:
    """A child that made tagged temp files and died without cleaning up (os._exit)."""
    code = (
        "import os, sys; from pathlib import Path; from rendercli import storage\n"
        "root = Path(sys.argv[1])\n"
        "(storage.tmp_dir(root) / storage.temp_name(root, 'render-')).mkdir()\n"
        "(storage.tmp_dir(root) / storage.temp_name(root, 'stage-')).write_bytes(b'x')\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    made = sorted(p.name.split("-")[0] for p in (tmp_path / "tmp").iterdir())
    assert made == ["owner", "render", "stage"]
    assert storage.clean_temp_files(tmp_path, older_than=10**9) == 2
    assert list((tmp_path / "tmp").iterdir()) == []


# --- unreferenced objects ------------------------------------------------------------------


def as_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connect as a render worker does: on PostgreSQL only the worker role may ask which
    objects any account uses, so only workers sweep them."""
    url = os.environ.get("RENDERCLI_WORKER_DATABASE_URL")
    if url is not None:
        monkeypatch.setenv("RENDERCLI_DATABASE_URL", url)


def backdate(path: Path, seconds: float = 2 * DEFAULT_ORPHAN_GRACE) -> None:
    when = time.time() - seconds
    os.utime(path, (when, when))


def test_unreferenced_objects_are_swept_after_a_grace(
    alice: Account, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = make_video(tmp_path / "a.mp4", duration=0.5)
    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(clip))
    used = storage.object_path(storage_dir(), storage.file_sha256(clip))
    orphan = ingest.store_file(make_image(tmp_path / "orphan.png"), storage_dir()).path
    young = ingest.store_file(make_image(tmp_path / "young.png", size=(64, 64)),
                               storage_dir()).path
    backdate(used)
    backdate(orphan)
    (storage_dir() / "tmp" / sweeps._STAMP).unlink(missing_ok=True)

    alice.ok("jobs", "list")
    if not database_url.startswith("sqlite"):
        assert orphan.exists()  # a client never sweeps objects on PostgreSQL: workers do
        as_worker(monkeypatch)
        sweeps.sweep_storage(worker=True, uow=UnitOfWork())

    assert not orphan.exists()
    assert used.exists() and young.exists()  # referenced; inside the grace


def test_no_object_is_swept_while_an_ingest_is_in_flight(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_worker(monkeypatch)
    orphan = ingest.store_file(make_image(tmp_path / "orphan.png"), storage_dir()).path
    storage.mark_database(storage_dir(),
                          sweeps.database_fingerprint(get_settings().database_url))
    backdate(orphan)
    with storage.ingest_guard(storage_dir(), 2.0):
        assert sweeps.sweep_orphans(UnitOfWork()) is None
    assert orphan.exists()
    assert sweeps.sweep_orphans(UnitOfWork()) == 1 and not orphan.exists()


def test_a_storage_of_another_database_keeps_its_objects(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_worker(monkeypatch)
    orphan = ingest.store_file(make_image(tmp_path / "orphan.png"), storage_dir()).path
    backdate(orphan)
    # Unmarked, with objects this database does not know: maybe a farm's storage.
    assert sweeps.sweep_orphans(UnitOfWork()) is None and orphan.exists()
    (storage_dir() / ".database").write_text("postgresql://someone@elsewhere:/farm\n")
    assert sweeps.sweep_orphans(UnitOfWork()) is None and orphan.exists()
    (storage_dir() / ".database").write_text(
        sweeps.database_fingerprint(get_settings().database_url) + "\n")
    assert sweeps.sweep_orphans(UnitOfWork()) == 1 and not orphan.exists()


@pytest.mark.slow
def test_an_add_killed_while_waiting_for_the_database_leaves_no_object(
    alice: Account, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 between placing the object and committing its row: the object is kept
    while the process lives (its row may still come), and swept once it is dead."""
    if not database_url.startswith("sqlite"):
        pytest.skip("holds SQLite's write lock")
    monkeypatch.setenv("RENDERCLI_ORPHAN_GRACE", "0")
    alice.ok("project", "create", "film")
    storage.mark_database(storage_dir(),
                          sweeps.database_fingerprint(get_settings().database_url))
    clip = make_video(tmp_path / "a.mp4", duration=0.5)
    obj = storage.object_path(storage_dir(), storage.file_sha256(clip))
    writer = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the add will wait for this lock
    proc = start(alice, "asset", "add", "film", str(clip))
    try:
        wait_for(obj.exists, "the object to be placed")
        assert proc.poll() is None
        assert sweeps.sweep_orphans(UnitOfWork()) is None and obj.exists()
    finally:
        kill(proc)
        writer.execute("ROLLBACK")
        writer.close()
    assert obj.exists()  # what the kill left: an object no asset references
    assert sweeps.sweep_orphans(UnitOfWork()) == 1
    assert not obj.exists()
