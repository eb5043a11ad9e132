"""`render submit` on the embedded default (inline), and the jobs commands, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rendercli.db.models import RenderJob
from tests.conftest import Account
from tests.media_factory import make_image, make_video
from tests.orm import get_session_factory

FAST = ["--preset", "480p", "--fps", "10", "--quality", "draft"]


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("render-media")
    return {
        "a": make_video(d / "a.mp4", duration=1.0),
        "b": make_video(d / "b.mp4", duration=1.0, tone=880, audio=False),
        "still": make_image(d / "still.png"),
    }


@pytest.fixture
def project(alice: Account, clips) -> str:
    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(clips["a"]), str(clips["still"]), "--duration", "1")
    return "film"


def job_count(url: str) -> int:
    with get_session_factory(url)() as session:
        return session.scalar(select(func.count()).select_from(RenderJob)) or 0


def test_inline_render_completes(alice: Account, project: str, tmp_path: Path) -> None:
    out = tmp_path / "film.mp4"
    result = alice.ok("render", "submit", project, *FAST, "--output", str(out), "--json")
    job = json.loads(result.stdout)
    assert job["status"] == "completed" and job["progress"] == 100.0
    assert job["output_url"].startswith("file://") and Path(job["output_path"]).exists()
    assert out.read_bytes() == Path(job["output_path"]).read_bytes()
    assert job["output_duration"] == pytest.approx(2.0, abs=0.11)
    assert job["attempts"] == 1 and job["worker_name"].startswith("inline@")
    status = json.loads(alice.ok("jobs", "status", job["id"], "--json").stdout)
    assert status["status"] == "completed" and status["output_sha256"] == job["output_sha256"]
    log = alice.ok("jobs", "logs", job["id"]).stdout
    assert "ffmpeg" in log and "-nostdin" in log and "attempt 1 started" in log
    # Same project, same settings: the whole output comes from the cache.
    again = json.loads(alice.ok("render", "submit", project, *FAST, "--json").stdout)
    assert again["cache_hit"] is True and again["output_sha256"] == job["output_sha256"]
    listed = json.loads(alice.ok("jobs", "list", "--json").stdout)
    assert [j["id"] for j in listed] == [again["id"], job["id"]]


def test_human_output_names_the_file(alice: Account, project: str) -> None:
    result = alice.ok("render", "submit", project, *FAST)
    assert result.stdout.startswith("Rendered film in ")
    assert result.stdout.strip().endswith(".mp4")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "999p"], "unknown preset '999p'"),
        (["--format", "avi"], "unknown format"),
        (["--quality", "ultra"], "unknown quality"),
        (["--fps", "0"], "fps"),
    ],
)
def test_invalid_settings_create_no_job(alice: Account, project: str, database_url: str,
                                         args: list[str], message: str) -> None:
    result = alice("render", "submit", project, *args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert job_count(database_url) == 0


def test_project_without_picture_assets(alice: Account, database_url: str, tmp_path) -> None:
    from tests.media_factory import make_audio

    alice.ok("project", "create", "music only")
    alice.ok("asset", "add", "music only", str(make_audio(tmp_path / "s.mp3")))
    result = alice("render", "submit", "music only")
    assert result.exit_code == 2 and "no video or image assets" in result.stderr
    alice.ok("project", "create", "empty")
    assert alice("render", "submit", "empty").exit_code == 2
    assert job_count(database_url) == 0


def test_active_job_is_a_conflict(alice: Account, project: str, database_url: str) -> None:
    from rendercli.services.renders import submit
    from rendercli.services.unit_of_work import UnitOfWork

    user_id = json.loads(alice.ok("whoami", "--json").stdout)["id"]
    queued = submit.submit(UnitOfWork(token=alice.token), user_id, project, submit.RenderRequest())
    result = alice("render", "submit", project)
    assert result.exit_code == 5
    assert result.stderr == (
        f"error: project 'film' already has an active render: {queued.id} (queued)\n")
    assert job_count(database_url) == 1


def test_failed_render_reports_the_reason(alice: Account, project: str, database_url: str,
                                          tmp_path: Path) -> None:
    # Damage the stored copy of the clip behind rendercli's back.
    storage = tmp_path / "data" / "storage" / "objects"
    victim = max(storage.rglob("*"), key=lambda p: p.stat().st_size if p.is_file() else 0)
    victim.chmod(0o644)
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 3])
    result = alice("render", "submit", project, *FAST, "--json")
    assert result.exit_code == 1
    job = json.loads(result.stdout)
    assert job["status"] == "failed" and job["error"] and "\n" not in job["error"]
    # with --json the error is a JSON object on stderr too
    error = json.loads(result.stderr)
    assert error["exit_code"] == 1 and error["error"].startswith(f"render {job['id']} failed: ")
    assert not list((tmp_path / "data" / "storage" / "renders").glob(f"{job['id']}*"))
    logs = json.loads(alice.ok("jobs", "logs", job["id"], "--json").stdout)
    assert logs["attempts"] == 1 and logs["error"] == job["error"]
    # Retry makes a new job (which fails again for the same reason: bad input).
    retried = alice("jobs", "retry", job["id"], "--json")
    assert retried.exit_code == 1
    assert json.loads(retried.stdout)["id"] != job["id"]
    assert job_count(database_url) == 2


def test_cancel_and_retry_rules(alice: Account, project: str) -> None:
    from rendercli.services.renders import submit
    from rendercli.services.unit_of_work import UnitOfWork

    user_id = json.loads(alice.ok("whoami", "--json").stdout)["id"]
    queued = submit.submit(UnitOfWork(token=alice.token), user_id, project, submit.RenderRequest(
        preset="480p", fps=10, quality="draft"))
    assert alice("jobs", "retry", queued.id).exit_code == 5  # only failed/cancelled
    cancelled = json.loads(alice.ok("jobs", "cancel", queued.id, "--json").stdout)
    assert cancelled["status"] == "cancelled"
    again = alice("jobs", "cancel", queued.id)
    assert again.exit_code == 5 and "already finished (cancelled)" in again.stderr
    retried = json.loads(alice.ok("jobs", "retry", queued.id, "--json").stdout)
    assert retried["status"] == "completed" and retried["id"] != queued.id


def test_another_users_jobs_are_not_found(alice: Account, bob: Account, project: str) -> None:
    job = json.loads(alice.ok("render", "submit", project, *FAST, "--json").stdout)
    for command in (["jobs", "status"], ["jobs", "logs"], ["jobs", "cancel"],
                    ["jobs", "retry"], ["jobs", "watch"]):
        theirs = bob(*command, job["id"])
        assert theirs.exit_code == 3, (command, theirs.stderr)
        assert theirs.stderr == f"error: job not found: {job['id']}\n"
    assert bob("render", "submit", project).exit_code == 3
    assert json.loads(bob.ok("jobs", "list", "--json").stdout) == []
    assert bob("jobs", "list", "--project", project).exit_code == 3


def test_watch_finished_jobs(alice: Account, project: str, database_url: str) -> None:
    done = json.loads(alice.ok("render", "submit", project, *FAST, "--json").stdout)
    watched = alice("jobs", "watch", done["id"])
    assert watched.exit_code == 0
    line = watched.stdout.strip().splitlines()[-1]
    assert done["id"] in line and " completed 100 %" in line and "output: " in line
    ndjson = alice("jobs", "watch", done["id"], "--json")
    assert ndjson.exit_code == 0
    [event] = [json.loads(x) for x in ndjson.stdout.splitlines()]
    assert event["status"] == "completed"
    by_project = alice("jobs", "watch", "--project", project)
    assert by_project.exit_code == 0 and done["id"] in by_project.stdout

    from rendercli.services.renders import submit
    from rendercli.services.unit_of_work import UnitOfWork

    user_id = json.loads(alice.ok("whoami", "--json").stdout)["id"]
    queued = submit.submit(UnitOfWork(token=alice.token), user_id, project, submit.RenderRequest())
    timed_out = alice("jobs", "watch", queued.id, "--timeout", "0.3", "--interval", "0.1")
    assert timed_out.exit_code == 124 and "timed out" in timed_out.stderr
    alice.ok("jobs", "cancel", queued.id)
    both = alice("jobs", "watch", done["id"], queued.id)
    assert both.exit_code == 1  # one of them did not complete
    assert "cancelled" in both.stdout


def _queued(alice: Account, project: str):  # type: ignore[no-untyped-def]
    from rendercli.services.renders import submit
    from rendercli.services.unit_of_work import UnitOfWork

    user_id = json.loads(alice.ok("whoami", "--json").stdout)["id"]
    return user_id, submit.submit(UnitOfWork(token=alice.token), user_id, project,
                                  submit.RenderRequest())


def test_no_delete_or_asset_removal_while_rendering(alice: Account, project: str) -> None:
    _, job = _queued(alice, project)
    deleted = alice("project", "delete", project, "--yes")
    assert deleted.exit_code == 5 and f"rendercli jobs cancel {job.id}" in deleted.stderr
    asset_id = json.loads(alice.ok("asset", "list", project, "--json").stdout)["assets"][0]["id"]
    assert alice("asset", "remove", asset_id).exit_code == 5
    alice.ok("jobs", "cancel", job.id)
    alice.ok("asset", "remove", asset_id)


def test_project_delete_removes_rendered_files(alice: Account, project: str) -> None:
    job = json.loads(alice.ok("render", "submit", project, *FAST, "--json").stdout)
    output = Path(job["output_path"])
    assert output.exists() and output.with_suffix(".jpg").exists()
    alice.ok("project", "delete", project, "--yes")
    assert not output.exists() and not output.with_suffix(".jpg").exists()


def test_inline_progress_lines_when_stderr_is_not_a_terminal(alice: Account, project: str):
    result = alice.ok("render", "submit", project, *FAST)
    lines = [x for x in result.stderr.splitlines() if x.startswith("rendering ")]
    assert lines, result.stderr  # a tiny render may report its first step at 50 %
    assert lines[-1].split(": ")[1].startswith("100 %, elapsed ")
    steps = [int(x.split(": ")[1].split(" %")[0]) for x in lines]
    assert steps == sorted(steps) and len(steps) == len(set(steps))


def test_embedded_dead_render_is_failed_not_requeued(alice: Account, project: str,
                                                     database_url: str) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from rendercli.db.types import utcnow
    from rendercli.services.renders import lifecycle
    from rendercli.services.unit_of_work import UnitOfWork

    _, job = _queued(alice, project)
    as_alice = UnitOfWork(token=alice.token)
    assert lifecycle.claim(job.id, "inline@gone", uow=as_alice) is not None
    with get_session_factory(database_url)() as session:
        session.execute(update(RenderJob).values(heartbeat_at=utcnow() - timedelta(hours=1)))
        session.commit()
    assert lifecycle.recover_stale(uow=as_alice).failed == [job.id]
    status = json.loads(alice.ok("jobs", "status", job.id, "--json").stdout)
    assert status["status"] == "failed" and "stopped before it finished" in status["error"]
    alice.ok("render", "submit", project, *FAST)  # the project is free again

    _, orphan = _queued(alice, project)  # submitted, then the process died
    with get_session_factory(database_url)() as session:
        session.execute(update(RenderJob).where(RenderJob.id == orphan.id)
                        .values(created_at=utcnow() - timedelta(hours=1)))
        session.commit()
    alice.ok("jobs", "list")  # any jobs command sweeps
    after = json.loads(alice.ok("jobs", "status", orphan.id, "--json").stdout)
    assert after["status"] == "failed" and "before the render started" in after["error"]


def test_read_commands_load_no_orm_on_the_embedded_default(
    alice: Account, project: str, database_url: str
) -> None:
    """jobs status/list, project list and asset list answer over plain SQL
    (rendercli.db.rows: bare sqlite3, or bare psycopg on PostgreSQL) without SQLAlchemy."""
    import os

    from tests.imports import modules_loaded_by

    job = json.loads(alice.ok("render", "submit", project, *FAST, "--json").stdout)
    heavy = ["sqlalchemy", "pydantic", "rq", "redis", "bcrypt"]
    env = {"RENDERCLI_TOKEN": alice.token}
    for argv in (["jobs", "status", job["id"]], ["jobs", "list"], ["project", "list"],
                 ["jobs", "list", "--project", project, "--status", "completed"],
                 ["asset", "list", project], ["asset", "list", project, "--json"]):
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            loaded = modules_loaded_by(argv, heavy)
        finally:
            for k, v in old.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        assert loaded == [], f"{argv} imported {loaded}"
    shown = json.loads(alice.ok("jobs", "status", job["id"], "--json").stdout)
    assert shown["id"] == job["id"] and shown["status"] == "completed"
    assert shown["project_name"] == project or shown["project_id"] == job["project_id"]
    listed = json.loads(alice.ok("jobs", "list", "--json").stdout)
    assert listed[0]["id"] == job["id"]
    assert listed[0]["created_at"] == shown["created_at"]
