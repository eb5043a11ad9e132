"""Races and recovery, decided by the database itself, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from rendercli.db.models import RenderJob
from rendercli.db.types import utcnow
from rendercli.errors import Conflict
from rendercli.services.renders import lifecycle, submit, views
from rendercli.services.unit_of_work import UnitOfWork
from tests.conftest import Account
from tests.media_factory import make_image
from tests.orm import SessionFactory


@pytest.fixture(autouse=True)
def farm_semantics(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests exercise the farm's rules (re-queue, retries). Nothing here talks to
    Redis; on the embedded default a dead render is failed instead (tested elsewhere)."""
    monkeypatch.setenv("RENDERCLI_REDIS_URL", "redis://127.0.0.1:1/0")


@pytest.fixture
def project(alice: Account, tmp_path: Path) -> tuple[str, str]:
    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(make_image(tmp_path / "still.png")))
    user_id = json.loads(alice.ok("whoami", "--json").stdout)["id"]
    return user_id, "film"


@pytest.fixture
def uow(sessions: SessionFactory):  # type: ignore[no-untyped-def]
    """A fresh unit of work on the test's database, passed to services explicitly."""
    return lambda: UnitOfWork(sessions.url)


def run_together(count: int, fn) -> list:  # type: ignore[no-untyped-def]
    """Start `count` threads at the same instant; collect results or exceptions."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def target(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_twenty_concurrent_submits_make_one_job(project, uow, sessions) -> None:
    user_id, name = project
    results = run_together(20, lambda i: submit.submit(uow(), user_id, name,
                                                     submit.RenderRequest()))
    created = [r for r in results if isinstance(r, views.JobView)]
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(created) == 1, results
    assert len(conflicts) == 19, [r for r in results if not isinstance(r, views.JobView)]
    assert all(created[0].id in str(c) for c in conflicts)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RenderJob)) == 1


def test_only_one_worker_can_claim_a_job(project, uow, sessions) -> None:
    user_id, name = project
    job = submit.submit(uow(), user_id, name, submit.RenderRequest())
    claims = run_together(
        10, lambda i: lifecycle.claim(job.id, f"w{i}", uow=UnitOfWork(sessions.url)))
    won = [c for c in claims if c is not None]
    assert len(won) == 1 and not any(isinstance(c, Exception) for c in claims)
    assert lifecycle.claim(job.id, "late", uow=UnitOfWork(sessions.url)) is None
    view = views.get(uow(), user_id, job.id)
    assert view.status == "processing" and view.worker_name == won[0].worker_name


def test_a_cancelled_job_cannot_be_claimed(project, uow, sessions) -> None:
    user_id, name = project
    job = submit.submit(uow(), user_id, name, submit.RenderRequest())
    lifecycle.cancel(uow(), user_id, job.id)
    assert lifecycle.claim(job.id, "w", uow=UnitOfWork(sessions.url)) is None


def _age_heartbeat(sessions: SessionFactory, job_id: str, seconds: float) -> None:
    with sessions() as session:
        session.execute(update(RenderJob).where(RenderJob.id == job_id)
                        .values(heartbeat_at=utcnow() - timedelta(seconds=seconds)))
        session.commit()


def test_stale_jobs_recovered_within_two_minutes_by_default(project, uow, sessions) -> None:
    """Default settings: a job silent for 60 s is handed back; 50 s of silence is fine.

    Together with the 30 s maintenance sweep of idle workers (and any rendercli command),
    a dead worker's job is re-queued well within 2 minutes.
    """
    user_id, name = project
    job = submit.submit(uow(), user_id, name, submit.RenderRequest())
    first = lifecycle.claim(job.id, "dead-worker", uow=UnitOfWork(sessions.url))
    assert first is not None
    _age_heartbeat(sessions, job.id, 50)
    assert lifecycle.recover_stale(uow=UnitOfWork(sessions.url)).requeued == []
    _age_heartbeat(sessions, job.id, 61)
    assert lifecycle.recover_stale(uow=UnitOfWork(sessions.url)).requeued == [job.id]
    view = views.get(uow(), user_id, job.id)
    assert view.status == "queued" and view.attempts == 1 and view.worker_name is None
    # The dead worker's claim is fenced off: it can neither heartbeat nor publish.
    assert lifecycle.heartbeat(first, progress=50, uow=UnitOfWork(sessions.url)) is False
    assert lifecycle.complete(first, output_url="file:///x", uow=UnitOfWork(sessions.url)) is False
    assert lifecycle.fail(first, "late", uow=UnitOfWork(sessions.url)) is False
    assert views.get(uow(), user_id, job.id).status == "queued"


def test_attempts_run_out_and_the_job_fails(project, uow, sessions, monkeypatch) -> None:
    monkeypatch.setenv("RENDERCLI_MAX_RETRIES", "1")
    user_id, name = project
    job = submit.submit(uow(), user_id, name, submit.RenderRequest())
    for attempt in (1, 2):
        claim = lifecycle.claim(job.id, f"w{attempt}", uow=UnitOfWork(sessions.url))
        assert claim is not None and claim.attempt == attempt
        _age_heartbeat(sessions, job.id, 3600)
        recovery = lifecycle.recover_stale(uow=UnitOfWork(sessions.url))
    assert recovery.failed == [job.id]
    view = views.get(uow(), user_id, job.id)
    assert view.status == "failed" and view.attempts == 2
    assert view.error == "the worker stopped responding (2 attempts)"
    log = views.logs(uow(), user_id, job.id).log
    assert "attempt 1 lost: worker w1" in log and "attempt 2 lost: worker w2" in log


def test_cancel_reaches_a_processing_claim(project, uow, sessions) -> None:
    user_id, name = project
    job = submit.submit(uow(), user_id, name, submit.RenderRequest())
    claim = lifecycle.claim(job.id, "w", uow=UnitOfWork(sessions.url))
    assert claim is not None and lifecycle.still_ours(claim, uow=UnitOfWork(sessions.url))
    lifecycle.cancel(uow(), user_id, job.id)
    assert not lifecycle.still_ours(claim, uow=UnitOfWork(sessions.url))
    assert lifecycle.complete(claim, output_url="file:///x", uow=UnitOfWork(sessions.url)) is False
    assert views.get(uow(), user_id, job.id).status == "cancelled"


def test_an_interrupted_render_leaves_processing_only_under_its_claim(
    project, uow, sessions
) -> None:
    user_id, name = project
    job = submit.submit(uow(), user_id, name, submit.RenderRequest())
    first = lifecycle.claim(job.id, "w1", uow=UnitOfWork(sessions.url))
    assert first is not None
    _age_heartbeat(sessions, job.id, 3600)
    assert lifecycle.recover_stale(uow=UnitOfWork(sessions.url)).requeued == [job.id]
    second = lifecycle.claim(job.id, "w2", uow=UnitOfWork(sessions.url))
    assert second is not None
    assert lifecycle.interrupted(first, uow=UnitOfWork(sessions.url)) is False  # fenced off
    assert views.get(uow(), user_id, job.id).status == "processing"
    assert lifecycle.interrupted(second, uow=UnitOfWork(sessions.url)) is True
    view = views.get(uow(), user_id, job.id)
    assert (view.status, view.error, view.worker_name) == ("cancelled", "interrupted", "w2")
    assert view.finished_at is not None
