"""`rendercli doctor`, `rendercli stats`, and the analytics events behind the product."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from rendercli.db.models import AnalyticsEvent, Project
from rendercli.db.types import utcnow
from tests.conftest import Account, Cli
from tests.farm import Farm
from tests.media_factory import make_image, make_video
from tests.orm import get_session_factory, job_in


def checks(result) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {c["name"]: c for c in json.loads(result.stdout)["checks"]}


def test_doctor_on_the_embedded_default(alice: Account) -> None:
    result = alice("doctor", "--json")
    assert result.exit_code == 0, result.stdout
    found = checks(result)
    assert list(found) == ["configuration", "database", "redis", "storage", "ffmpeg",
                           "keyring", "login"]
    assert found["database"]["ok"] and "latest" in found["database"]["detail"]
    assert "inline" in found["redis"]["detail"]
    assert found["ffmpeg"]["ok"] and "libx264 yes" in found["ffmpeg"]["detail"]
    assert found["login"]["ok"] and "alice@example.com" in found["login"]["detail"]
    human = alice("doctor").stdout
    assert human.startswith("✓ configuration: ")


def test_doctor_fails_on_a_required_check(alice: Account, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("RENDERCLI_FFMPEG", str(tmp_path / "no-such-ffmpeg"))
    result = alice("doctor", "--json")
    assert result.exit_code == 1
    ffmpeg = checks(result)["ffmpeg"]
    assert not ffmpeg["ok"] and "RENDERCLI_FFMPEG" in ffmpeg["hint"]


def test_doctor_with_unreachable_database(cli: Cli, monkeypatch) -> None:
    monkeypatch.setenv("RENDERCLI_DATABASE_URL",
                       "postgresql+psycopg://u:pw@127.0.0.1:1/x?connect_timeout=2")
    result = cli("doctor", "--json")
    assert result.exit_code == 1
    found = checks(result)
    assert not found["database"]["ok"] and "pw" not in found["database"]["detail"]
    assert found["login"]["detail"].startswith("skipped")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_doctor_in_the_farm(alice: Account, farm: Farm) -> None:
    idle = checks(alice("doctor", "--json"))
    assert idle["redis"]["ok"] and not idle["workers"]["ok"]
    assert idle["workers"]["hint"] == "start one with `rendercli worker`"
    farm.start_worker("doc-worker")
    from tests.farm import wait_for

    wait_for(lambda: checks(alice("doctor", "--json"))["workers"]["ok"], 30, "the worker")
    if not farm.redis.external:
        farm.redis.stop()
        down = alice("doctor", "--json")
        assert down.exit_code == 1 and not checks(down)["redis"]["ok"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_doctor_warns_about_plain_rq_workers_on_the_render_queue(alice: Account,
                                                                 farm: Farm) -> None:
    from tests.farm import wait_for

    farm.start_worker("guarded", via="rendercli")
    found = wait_for(lambda: (c := checks(alice("doctor", "--json"))).get("worker class")
                     and c, 30, "the rendercli worker")
    assert found["worker class"]["ok"], found["worker class"]
    farm.start_worker("plain", via="plain-rq")  # `rq worker ... render-video`, RQ's class
    found = wait_for(lambda: "2 alive" in (c := checks(alice("doctor", "--json")))[
        "workers"]["detail"] and c, 30, "the plain rq worker")
    warning = found["worker class"]
    assert not warning["ok"] and not warning["required"]
    assert "1 of 2" in warning["detail"] and "(plain)" in warning["detail"]
    assert "rendercli worker" in warning["hint"]
    result = alice("doctor")
    assert result.exit_code == 0  # a warning (!), not a failure
    assert "! worker class: 1 of 2 on render-video are not rendercli workers" in result.stdout


def _job(url: str, project_id: str, status: str, seconds: float | None,
         output: float | None = None) -> None:
    now = utcnow()
    with get_session_factory(url)() as session:
        session.add(job_in(
            session, project_id, status=status, preset="720p", format="mp4", fps=30,
            quality="standard", started_at=None if seconds is None else now,
            finished_at=None if seconds is None else now + timedelta(seconds=seconds),
            output_duration=output))
        session.commit()


def test_stats(alice: Account, bob: Account, database_url: str) -> None:
    alice.ok("project", "create", "big")
    alice.ok("project", "create", "small")
    with get_session_factory(database_url)() as session:
        ids = dict(session.execute(select(Project.name, Project.id)).all())
    for seconds in (10, 20, 30, 40, 100):
        _job(database_url, ids["big"], "completed", seconds, output=60)
    _job(database_url, ids["big"], "failed", 5)
    _job(database_url, ids["small"], "completed", 12, output=30)
    _job(database_url, ids["small"], "cancelled", None)
    stats = json.loads(alice.ok("stats", "--json").stdout)
    assert stats["total"] == 8
    assert stats["by_status"] == {"queued": 0, "processing": 0, "completed": 6, "failed": 1,
                                  "cancelled": 1}
    assert stats["success_rate"] == round(6 / 7, 4)
    assert stats["median_render_seconds"] == 20.0  # of 10, 12, 20, 30, 40, 100
    assert stats["p95_render_seconds"] == 100.0
    assert stats["output_minutes"] == 5.5
    assert [p["project_name"] for p in stats["busiest_projects"]] == ["big", "small"]
    assert stats["busiest_projects"][0]["output_minutes"] == 5.0
    empty = json.loads(bob.ok("stats", "--json").stdout)
    assert empty["total"] == 0 and empty["success_rate"] is None
    assert "success rate:" in alice.ok("stats").stdout


def test_events_cover_the_product(alice: Account, database_url: str, tmp_path: Path) -> None:
    alice.ok("project", "create", "ev")
    alice.ok("asset", "add", "ev", str(make_image(tmp_path / "a.png")), "--duration", "0.5")
    fast = ["--preset", "480p", "--fps", "10", "--quality", "draft"]
    alice.ok("render", "submit", "ev", *fast)
    from rendercli.services.renders import submit
    from rendercli.services.unit_of_work import UnitOfWork

    user_id = json.loads(alice.ok("whoami", "--json").stdout)["id"]
    queued = submit.submit(UnitOfWork(token=alice.token), user_id, "ev", submit.RenderRequest())
    alice.ok("jobs", "cancel", queued.id)
    clip = make_video(tmp_path / "c.mp4", duration=1.0)
    alice.ok("asset", "add", "ev", str(clip))
    Path(clip).unlink()
    store = tmp_path / "data" / "storage" / "objects"
    victim = max((p for p in store.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    victim.chmod(0o644)
    victim.write_bytes(victim.read_bytes()[:500])
    assert alice("render", "submit", "ev", *fast).exit_code == 1
    alice.ok("project", "delete", "ev", "--yes")
    with get_session_factory(database_url)() as session:
        events = {e.name: e for e in session.scalars(
            select(AnalyticsEvent).order_by(AnalyticsEvent.created_at))}
    for name in ("user.registered", "project.created", "asset.added", "render.submitted",
                 "render.completed", "render.cancelled", "render.failed", "project.deleted"):
        assert name in events, name
        assert events[name].user_id == user_id
    assert events["render.completed"].properties["seconds"] > 0
    assert events["render.cancelled"].properties["seconds"] >= 0
    assert events["render.failed"].properties["seconds"] > 0
