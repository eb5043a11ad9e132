"""Tasks of a split render, decided by the database itself, on SQLite and PostgreSQL:
guarded claims, fencing, the assemble task last, failure and cancel across tasks,
recovery of a dead worker's task only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from rendercli.db.models import RenderJob
from rendercli.render.engine import prepare_render
from rendercli.services.renders import lifecycle, submit, tasks
from rendercli.services.renders.timeline import timeline_items
from rendercli.services.unit_of_work import UnitOfWork
from tests.conftest import Account
from tests.media_factory import make_image
from tests.orm import SessionFactory
from tests.test_render_lifecycle import run_together


@pytest.fixture(autouse=True)
def farm_semantics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENDERCLI_REDIS_URL", "redis://127.0.0.1:1/0")  # never reached


@pytest.fixture
def split_job(alice: Account, tmp_path: Path, sessions: SessionFactory):  # type: ignore[no-untyped-def]
    """A claimed job split into its tasks: 3 segments, the soundtrack, the assemble."""
    from rendercli.db.models import Asset

    alice.ok("project", "create", "film")
    for n in range(3):
        alice.ok("asset", "add", "film", str(make_image(tmp_path / f"s{n}.png",
                                                        size=(64 + 16 * n, 64))))
    user_id = json.loads(alice.ok("whoami", "--json").stdout)["id"]
    job = submit.submit(UnitOfWork(sessions.url), user_id, "film", submit.RenderRequest())
    claim = lifecycle.claim(job.id, "planner", uow=UnitOfWork(sessions.url))
    assert claim is not None
    with sessions() as session:
        assets = session.scalars(select(Asset)).all()
        items = timeline_items(list(assets), UnitOfWork(sessions.url).settings)
    prepared = prepare_render(items, submit.engine_settings(submit.RenderRequest()),
                              storage_dir=tmp_path / "storage")
    created = tasks.split(claim, prepared, uow=UnitOfWork(sessions.url))
    assert [t.kind for t in created] == ["segment"] * 3 + ["soundtrack", "assemble"]
    assert tasks.split(claim, prepared, uow=UnitOfWork(sessions.url)) == []  # once only
    return user_id, job.id, created


def _views(sessions: SessionFactory, job_id: str) -> list[tasks.TaskView]:
    with UnitOfWork(sessions.url) as uow:
        return tasks.task_views(uow.rows, job_id)


def _job(sessions: SessionFactory, job_id: str) -> RenderJob:
    with sessions() as session:
        job = session.get(RenderJob, job_id)
        assert job is not None
        return job


def test_one_worker_claims_a_task_and_the_assemble_waits_for_all(split_job, sessions) -> None:
    _user, job_id, created = split_job
    first = created[0].id
    claims = run_together(8, lambda i: tasks.claim(first, f"w{i}", uow=UnitOfWork(sessions.url)))
    won = [c for c in claims if c is not None]
    assert len(won) == 1 and won[0].attempt == 1
    assemble = created[-1].id
    assert tasks.claim(assemble, "early", uow=UnitOfWork(sessions.url)) is None
    others = [tasks.claim(t.id, "w9", uow=UnitOfWork(sessions.url)) for t in created[1:-1]]
    assert all(others)
    assert tasks.heartbeat(won[0], progress=50.0, uow=UnitOfWork(sessions.url))
    job = _job(sessions, job_id)
    assert 0 < job.progress < 100  # the tasks' progress, weighted by cost
    for claim in [won[0], *others]:
        assert claim is not None and tasks.complete(claim, [["ffmpeg", "-i", "x"]],
                                                    uow=UnitOfWork(sessions.url))
    assert _job(sessions, job_id).progress > 90
    last = tasks.claim(assemble, "finisher", uow=UnitOfWork(sessions.url))
    assert last is not None
    assert tasks.complete_job(last, [], "published\n", uow=UnitOfWork(sessions.url), output_size=1)
    job = _job(sessions, job_id)
    assert job.status == "completed" and job.progress == 100 and job.output_size == 1
    views = _views(sessions, job_id)
    assert all(v.state == "completed" for v in views)
    assert views[0].command == "$ ffmpeg -i x\n" and views[-1].worker_name == "finisher"


def test_a_dead_workers_task_alone_is_handed_back_and_its_claim_fenced(
        split_job, sessions, monkeypatch) -> None:
    _user, job_id, created = split_job
    done = tasks.claim(created[0].id, "steady", uow=UnitOfWork(sessions.url))
    assert done is not None and tasks.complete(done, [], uow=UnitOfWork(sessions.url))
    lost = tasks.claim(created[1].id, "doomed", uow=UnitOfWork(sessions.url))
    alive = tasks.claim(created[2].id, "steady", uow=UnitOfWork(sessions.url))
    assert lost is not None and alive is not None
    monkeypatch.setenv("RENDERCLI_HEARTBEAT_TIMEOUT", "60")
    # Only the doomed worker went silent; the other one keeps heartbeating.
    with UnitOfWork(sessions.url) as uow:
        from datetime import timedelta

        from rendercli.db.clock import utcnow

        uow.rows.run("UPDATE render_tasks SET heartbeat_at = :t WHERE id = :id",
                     t=utcnow() - timedelta(seconds=120), id=lost.task_id)
        uow.commit()
    # The job's own heartbeat is fresh (its live task keeps it so): the light probe that
    # decides whether a command runs recovery must still see the dead worker's task.
    from rendercli.services import upkeep

    with UnitOfWork(sessions.url) as uow:
        assert upkeep.due(uow.rows, uow.settings)
    recovery = lifecycle.recover_stale(uow=UnitOfWork(sessions.url))
    assert recovery.tasks_requeued == [lost.task_id] and recovery.requeued == []
    with UnitOfWork(sessions.url) as uow:
        assert not upkeep.due(uow.rows, uow.settings)  # nothing left to recover
    assert _job(sessions, job_id).status == "processing"  # the job lives on
    # The doomed worker, if it were still running somewhere, can do nothing more.
    assert not tasks.heartbeat(lost, progress=90, uow=UnitOfWork(sessions.url))
    assert not tasks.complete(lost, [], uow=UnitOfWork(sessions.url))
    assert not tasks.fail(lost, "late", uow=UnitOfWork(sessions.url))
    again = tasks.claim(lost.task_id, "survivor", uow=UnitOfWork(sessions.url))
    assert again is not None and again.attempt == 2
    states = {v.id: (v.state, v.attempts) for v in _views(sessions, job_id)}
    assert states[done.task_id] == ("completed", 1)  # never redone
    assert states[alive.task_id] == ("processing", 1)
    assert "attempt 1 lost: worker doomed" in (_job(sessions, job_id).log or "")


def test_a_failed_task_fails_the_job_once_and_cancels_the_rest(split_job, sessions) -> None:
    _user, job_id, created = split_job
    a = tasks.claim(created[0].id, "w1", uow=UnitOfWork(sessions.url))
    b = tasks.claim(created[1].id, "w2", uow=UnitOfWork(sessions.url))
    assert a is not None and b is not None
    assert tasks.fail(a, "corrupt source", uow=UnitOfWork(sessions.url))
    # fenced: the job ended
    assert not tasks.fail(b, "another reason", uow=UnitOfWork(sessions.url))
    assert not tasks.still_ours(b, uow=UnitOfWork(sessions.url))  # its worker stops its ffmpeg
    job = _job(sessions, job_id)
    assert job.status == "failed" and job.error == "corrupt source" and job.attempts == 1
    states = [v.state for v in _views(sessions, job_id)]
    assert states == ["failed", "cancelled", "cancelled", "cancelled", "cancelled"]
    assert tasks.claim(created[2].id, "w3", uow=UnitOfWork(sessions.url)) is None


def test_cancel_stops_every_task(split_job, sessions) -> None:
    user_id, job_id, created = split_job
    running = tasks.claim(created[0].id, "w1", uow=UnitOfWork(sessions.url))
    assert running is not None and tasks.still_ours(running, uow=UnitOfWork(sessions.url))
    lifecycle.cancel(UnitOfWork(sessions.url), user_id, job_id)
    assert not tasks.still_ours(running, uow=UnitOfWork(sessions.url))
    assert not tasks.heartbeat(running, uow=UnitOfWork(sessions.url))
    assert {v.state for v in _views(sessions, job_id)} == {"cancelled"}
    assert tasks.claim(created[1].id, "w2", uow=UnitOfWork(sessions.url)) is None
