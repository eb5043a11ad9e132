"""`render batch` and projects: all rows or none, and only projects its spec made."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from rendercli.db.models import Project, RenderJob
from tests.conftest import Account
from tests.farm import Farm
from tests.orm import get_session_factory
from tests.test_batch import SPEC, counts, make_batch_media


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_batch_media(tmp_path_factory.mktemp("batch-projects-media"))


@pytest.fixture
def folder(tmp_path: Path, media: Path) -> Path:
    folder = tmp_path / "greetings"
    shutil.copytree(media, folder)
    (folder / "video.yaml").write_text(SPEC, encoding="utf-8")
    (folder / "rows.csv").write_text("name\nAna\nBo\nCéu\n", encoding="utf-8")
    return folder


def batch(account: Account, folder: Path, *extra: str):  # type: ignore[no-untyped-def]
    return account("render", "batch", str(folder / "video.yaml"), "--data",
                   str(folder / "rows.csv"), "--name-field", "name", *extra)


def titles(account: Account, project: str) -> str:
    items = json.loads(account.ok("asset", "list", project, "--json").stdout)["assets"]
    return items[0]["title"]["text"]


def origins(url: str) -> dict[str, str | None]:
    with get_session_factory(url)() as session:
        return dict(session.execute(select(Project.name, Project.spec_origin)).all())


def test_a_project_made_by_hand_is_not_rewritten_without_replace(
    alice: Account, folder: Path, farm: Farm, database_url: str
) -> None:
    alice.ok("project", "create", "video-Bo")
    alice.ok("title", "add", "video-Bo", "Mine, by hand")
    result = batch(alice, folder)
    assert result.exit_code == 5
    assert result.stderr.splitlines()[-1] == (
        "error: project 'video-Bo' (row 2) is not made by a batch of this spec: give the rows "
        "other names, or --replace to take the projects over; nothing was changed")
    assert counts(database_url) == (1, 0)
    assert titles(alice, "video-Bo") == "Mine, by hand"
    # --replace takes it over; from then on the spec's batches may change it.
    replaced = batch(alice, folder, "--replace")
    assert replaced.exit_code == 0, replaced.stderr
    assert titles(alice, "video-Bo") == "Hello Bo"
    assert counts(database_url) == (3, 3)
    assert len(set(origins(database_url).values())) == 1
    alice.ok("jobs", "cancel", "--batch", replaced.stdout.strip())
    again = batch(alice, folder)
    assert again.exit_code == 0, again.stderr
    alice.ok("jobs", "cancel", "--batch", again.stdout.strip())
    # The same names from another spec file: not this spec's projects.
    (folder / "other").mkdir()
    for name in ("video.yaml", "rows.csv", "intro.mp4", "song.mp3"):
        (folder / "other" / name).write_bytes((folder / name).read_bytes())
    other = batch(alice, folder / "other")
    assert other.exit_code == 5
    assert "'video-Ana' (row 1), 'video-Bo' (row 2), 'video-Céu' (row 3) are not made" in (
        other.stderr)


def test_a_row_that_cannot_be_applied_leaves_every_other_row_as_it_was(
    alice: Account, folder: Path, farm: Farm, database_url: str
) -> None:
    first = batch(alice, folder, "--json")
    assert first.exit_code == 0
    # Row 2's render is still queued (no worker); row 1's is done with.
    with get_session_factory(database_url)() as session:
        for job in session.scalars(select(RenderJob).join(RenderJob.project)
                                   .where(Project.name != "video-Bo")):
            job.status = "cancelled"
        session.commit()
    (folder / "video.yaml").write_text(
        (folder / "video.yaml").read_text(encoding="utf-8").replace("Hello", "Hi"),
        encoding="utf-8")
    result = batch(alice, folder)
    assert result.exit_code == 5
    assert "project 'video-Bo' (row 2) is rendering" in result.stderr
    assert titles(alice, "video-Ana") == "Hello Ana"  # row 1 was not applied either
    assert counts(database_url) == (3, 3)


def test_a_failure_inside_the_transaction_rolls_every_row_back(
    alice: Account, folder: Path, database_url: str, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path
) -> None:
    from rendercli.services.specs import batch as batches

    checked = batches._check_projects

    def then_someone_makes_one(*args, **kwargs):  # type: ignore[no-untyped-def]
        plans = checked(*args, **kwargs)
        alice.ok("project", "create", "video-Céu")  # by hand, after the checks
        return plans

    monkeypatch.setattr(batches, "_check_projects", then_someone_makes_one)
    result = batch(alice, folder)
    assert result.exit_code == 5
    assert "project 'video-Céu' was made meanwhile, not by this spec's batches" in result.stderr
    assert sorted(origins(database_url)) == ["video-Céu"]  # rows 1 and 2: not there
    assert counts(database_url) == (1, 0)
    stored = tmp_path / "data" / "storage" / "objects"
    assert not stored.exists() or not [p for p in stored.rglob("*") if p.is_file()]


def test_farm_jobs_are_queued_in_chunks_exactly_as_one_by_one(
    alice: Account, folder: Path, farm: Farm, database_url: str,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis import Redis
    from rq.job import Job
    from rq.serializers import JSONSerializer

    from rendercli import rq_guard
    from rendercli.services.renders import dispatch
    from rendercli.services.specs import batch as batches
    from rendercli.services.unit_of_work import UnitOfWork

    monkeypatch.setattr(batches, "CHUNK", 2)  # three rows: two chunks
    lines = [json.loads(x) for x in batch(alice, folder, "--json").stdout.splitlines()]
    ids = [x["job_id"] for x in lines]
    conn = Redis.from_url(farm.redis.url)
    queued = [i.decode() for i in conn.lrange("rq:queue:render-video", 0, -1)]
    assert queued == ids
    with get_session_factory(database_url)() as session:
        marked = session.scalars(select(RenderJob.dispatched_at).where(RenderJob.id.in_(ids)))
        assert None not in list(marked)
    # The same job, enqueued one by one: the same hash in Redis but for times and ids.
    one = ids[0]
    batched = conn.hgetall(f"rq:job:{one}")
    conn.delete(f"rq:job:{one}")
    assert dispatch.enqueue(one, uow=UnitOfWork()) is None
    single = conn.hgetall(f"rq:job:{one}")
    varying = {b"created_at", b"enqueued_at", b"last_heartbeat"}
    assert {k: v for k, v in batched.items() if k not in varying} == {
        k: v for k, v in single.items() if k not in varying}
    for job_id in ids:  # what a render worker accepts
        job = Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
        assert rq_guard.check_call(job) == (rq_guard.RENDER_FUNCTION, job_id)
