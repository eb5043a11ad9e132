"""A `render submit` killed with SIGKILL mid-render (embedded default, inline render):
after the heartbeat timeout, every command that reads or changes jobs recovers the job,
so nothing stays `processing` and nothing stays blocked.

The heartbeat timeout is shortened with RENDERCLI_HEARTBEAT_TIMEOUT; the render itself is
real, and so is the kill.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from rendercli.db.models import Asset, RenderJob
from rendercli.db.types import utcnow
from tests.conftest import Account
from tests.farm import wait_for
from tests.media_factory import make_video
from tests.orm import get_session_factory
from tests.processes import processes_with, wait_until_gone

pytestmark = pytest.mark.slow

TIMEOUT = 2.0  # RENDERCLI_HEARTBEAT_TIMEOUT for these tests, in seconds
KILLED = ["--preset", "720p", "--fps", "25", "--quality", "draft", "--no-cache"]
FAST = ["--preset", "480p", "--fps", "10", "--quality", "draft"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("recovery") / "long.mp4", duration=20.0,
                      size=(640, 360))


def _row(url: str, job_id: str) -> RenderJob:
    with get_session_factory(url)() as session:
        job = session.get(RenderJob, job_id)
        assert job is not None
        session.expunge(job)
        return job


def _project_jobs(url: str) -> list[RenderJob]:
    with get_session_factory(url)() as session:
        jobs = list(session.scalars(select(RenderJob)))
        session.expunge_all()
        return jobs


def kill_inline_render(alice: Account, project: str, url: str, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> str:
    """Start `rendercli render submit` as a real process, SIGKILL it mid-render, and wait
    (reading the database directly: no rendercli command) until its heartbeat is stale."""
    monkeypatch.setenv("RENDERCLI_HEARTBEAT_TIMEOUT", str(TIMEOUT))
    monkeypatch.setenv("RENDERCLI_HEARTBEAT_INTERVAL", "0.5")
    rendercli = Path(sys.executable).parent / "rendercli"
    proc = subprocess.Popen(
        [str(rendercli), "render", "submit", project, *KILLED],
        env={**os.environ, "RENDERCLI_TOKEN": alice.token},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        def rendering() -> str | None:
            jobs = _project_jobs(url)
            busy = [j for j in jobs if j.status == "processing" and j.progress > 0]
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            return busy[0].id if busy else None

        job_id = str(wait_for(rendering, 60, "the inline render to make progress", 0.05))
        marker = str(tmp_path / "data" / "storage")
        assert processes_with(marker), "ffmpeg should be running"
        os.kill(proc.pid, signal.SIGKILL)  # the CLI process only: not its ffmpeg
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # ffmpeg dies with it (parent-death signal), though nobody signalled it.
    assert wait_until_gone(marker, 10.0) == []
    assert _row(url, job_id).status == "processing"
    wait_for(lambda: _row(url, job_id).heartbeat_at < utcnow() - timedelta(seconds=TIMEOUT),
             30, "the heartbeat to go stale")
    assert _row(url, job_id).status == "processing"  # nobody has looked yet
    return job_id


@pytest.fixture
def project(alice: Account, clip: Path) -> str:
    alice.ok("project", "create", "long")
    alice.ok("asset", "add", "long", str(clip))
    return "long"


def _asset_id(url: str) -> str:
    with get_session_factory(url)() as session:
        return str(session.scalars(select(Asset.id)).one())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("command", ["jobs status", "jobs logs", "render submit",
                                     "jobs retry", "asset remove", "project delete"])
def test_each_command_recovers_a_killed_inline_render(
    alice: Account, project: str, database_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, command: str,
) -> None:
    job_id = kill_inline_render(alice, project, database_url, tmp_path, monkeypatch)
    if command == "jobs status":
        shown = json.loads(alice.ok("jobs", "status", job_id, "--json").stdout)
        assert shown["status"] == "failed", shown
        assert "stopped before it finished" in shown["error"]
    elif command == "jobs logs":
        logs = alice.ok("jobs", "logs", job_id).stdout
        assert f"job {job_id}: failed" in logs and "attempt 1 lost" in logs
    elif command == "render submit":
        again = json.loads(alice.ok("render", "submit", project, *FAST, "--json").stdout)
        assert again["status"] == "completed"
    elif command == "jobs retry":
        retried = json.loads(alice.ok("jobs", "retry", job_id, "--json").stdout)
        assert retried["status"] == "completed" and retried["id"] != job_id
    elif command == "asset remove":
        alice.ok("asset", "remove", _asset_id(database_url))
    else:
        alice.ok("project", "delete", project, "--yes")
    assert _row(database_url, job_id).status == "failed" if command != "project delete" else (
        _project_jobs(database_url) == [])


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_killed_inline_render_does_not_block_its_project_on_postgresql(
    alice: Account, project: str, database_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id = kill_inline_render(alice, project, database_url, tmp_path, monkeypatch)
    again = json.loads(alice.ok("render", "submit", project, *FAST, "--json").stdout)
    assert again["status"] == "completed"
    assert _row(database_url, job_id).status == "failed"
