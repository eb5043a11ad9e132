"""`render submit` writes its rows over plain SQL (rendercli.db.rows), not the ORM: the
statements write what the models would, and in farm mode the command loads no ORM."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import pytest
from sqlalchemy import select

from rendercli.db.models import AnalyticsEvent, RenderJob
from rendercli.repositories.events import event_row
from rendercli.repositories.jobs import NEW_JOB_COLUMNS, new_job_row
from rendercli.services.renders.submit import RenderRequest
from tests.conftest import Account, Cli, make_account
from tests.farm import Farm
from tests.imports import modules_loaded_by
from tests.media_factory import make_image
from tests.orm import get_session_factory

FAST = ["--preset", "480p", "--fps", "10", "--quality", "draft"]


def _matches_model(model: type, columns: tuple[str, ...], row: dict[str, object]) -> None:
    """Every column the model fills by default is written, with the model's scalar
    default unless given; every column left out has no default (NULL)."""
    table = model.__table__  # type: ignore[attr-defined]
    assert set(columns) <= set(table.columns.keys())
    assert list(row) == list(columns)
    for column in table.columns:
        if column.name not in columns:
            assert column.default is None and column.nullable, column.name
        elif column.default is not None and column.default.is_scalar:
            assert row[column.name] == column.default.arg or column.name in (
                "use_cache",), column.name


def test_a_new_job_row_is_what_the_model_would_insert() -> None:
    request = RenderRequest(preset="480p", fps=10, use_cache=False, loudness=-14.0)
    row = new_job_row("p1", "u1", **asdict(request), batch_id="b1")
    _matches_model(RenderJob, NEW_JOB_COLUMNS, row)
    assert (row["preset"], row["fps"], row["use_cache"], row["loudness"], row["batch_id"]) \
        == ("480p", 10, False, -14.0, "b1")
    assert row["status"] == "queued" and (row["project_id"], row["owner_id"]) == ("p1", "u1")
    assert row["created_at"].tzinfo is not None  # type: ignore[union-attr]


def test_an_event_row_is_what_the_model_would_insert() -> None:
    row = event_row("render.submitted", "u1", {"job_id": "j1"})
    _matches_model(AnalyticsEvent, tuple(row), row)
    assert json.loads(row["properties"]) == {"job_id": "j1"}  # type: ignore[arg-type]


def test_farm_submit_loads_no_orm_and_writes_the_same_rows(
    alice: Account, farm: Farm, database_url: str, tmp_path: Path
) -> None:
    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(make_image(tmp_path / "s.png")), "--duration", "1")
    alice.ok("render", "submit", "film", *FAST, "--json")  # a job through the CLI...
    first = json.loads(alice.ok("jobs", "list", "--json").stdout)[0]
    alice.ok("jobs", "cancel", first["id"])
    os.environ["RENDERCLI_TOKEN"] = alice.token
    try:  # ...and one in a fresh process, whose imports are counted
        loaded = modules_loaded_by(["render", "submit", "film", *FAST, "--loudness", "-14"],
                                   ["sqlalchemy", "rendercli.db.models", "pydantic", "bcrypt",
                                    "psycopg", "rq"])
    finally:
        del os.environ["RENDERCLI_TOKEN"]
    expected = ["psycopg", "rq"] if database_url.startswith("postgresql") else ["rq"]
    assert loaded == expected
    with get_session_factory(database_url)() as session:
        jobs = session.scalars(select(RenderJob).order_by(RenderJob.created_at)).all()
        events = session.scalars(select(AnalyticsEvent).where(
            AnalyticsEvent.name == "render.submitted")).all()
    assert len(jobs) == 2 and jobs[0].id == first["id"]
    job = jobs[1]
    assert (job.status, job.preset, job.format, job.fps, job.quality, job.use_cache,
            job.loudness, job.progress, job.attempts, job.batch_id) == (
        "queued", "480p", "mp4", 10, "draft", True, -14.0, 0.0, 0, None)
    assert job.dispatched_at is not None and job.created_at <= job.dispatched_at
    assert job.project_id == jobs[0].project_id
    assert sorted(e.properties["job_id"] for e in events) == sorted(j.id for j in jobs)
    shown = json.loads(alice.ok("jobs", "status", job.id, "--json").stdout)
    assert shown["status"] == "queued" and shown["dispatch_pending"] is False
    again = alice("render", "submit", "film", *FAST)
    assert again.exit_code == 5
    assert f"already has an active render: {job.id} (queued)" in again.stderr


def test_a_stored_logins_key_is_sqlalchemys_rendering_without_loading_it() -> None:
    """credentials.database_key makes plain PostgreSQL URLs' keys itself: they must be
    exactly the keys SQLAlchemy makes, or a stored login would no longer be found."""
    from rendercli.credentials import _plain_pg_key, database_key
    from rendercli.db.engines import display_url

    made_here = 0
    for url in ["postgresql+psycopg://client:secret@/db1?host=/tmp/pg.x/sock",
                "postgresql+psycopg://u:p@localhost:5432/db?sslmode=require&application_name=a",
                "postgresql+psycopg://u:@/db?host=%2Ftmp%2Fa", "postgresql+psycopg://u@h/db",
                "postgresql+psycopg:///db", "postgresql+psycopg://h:5432",
                "postgresql+psycopg://u:p@h:05432/db", "postgresql+psycopg://u:p%40x@h/db",
                "postgresql+psycopg://u:p@h/db?a=1&a=2", "postgresql+psycopg://u:p@h/d?x=a+b",
                "postgresql+psycopg://u:p@[::1]:5432/db", "postgresql+psycopg://u:p@h/db?k=%zz",
                "postgresql+psycopg://u:p@h/db?sslmode=", "postgresql+psycopg://u@h/db?password=x"]:
        assert database_key(url) == display_url(url), url
        assert "secret" not in database_key(url)
        made_here += _plain_pg_key(url) is not None
    assert made_here >= 7


UNUSUAL_URLS = [
    "postgresql+psycopg://u:p@h:5432/db", "postgresql+psycopg://u@h:5432/db?port=6432",
    "postgresql+psycopg://u@h/db?host=/tmp/other", "postgresql+psycopg://u@h/db?dbname=x",
    "postgresql+psycopg://u@h/db?user=root", "postgresql+psycopg://u:p@ss@host/db",
    "postgresql+psycopg://u@%2Ftmp%2Fsock/db", "postgresql+psycopg://u@h/db?sslmode=",
    "postgresql+psycopg://u@h/db?autocommit=1", "postgresql+psycopg://client:s@/db1?host=/tmp/x",
    "postgresql+psycopg://u:p%40x@h/db?sslmode=require&application_name=a",
    "postgresql+psycopg://u@[::1]:5433/db", "postgresql+psycopg://u@h/db?port=6432",
]


@pytest.mark.parametrize("url", UNUSUAL_URLS)
def test_the_plain_path_connects_where_sqlalchemy_would_or_not_at_all(url: str) -> None:
    """Both paths must reach the same database: the plain one reads a URL itself only
    where its reading is SQLAlchemy's, and leaves every other URL to the session."""
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
    from sqlalchemy.engine import make_url

    from rendercli.db.rows import _psycopg_params

    ours = _psycopg_params(url)
    if ours is not None:
        theirs = PGDialect_psycopg().create_connect_args(make_url(url))[1]
        assert ours == theirs
    assert ours is None or "autocommit" not in ours


def test_the_plain_path_reads_the_usual_urls_itself() -> None:
    from rendercli.db.rows import _psycopg_params

    assert _psycopg_params(UNUSUAL_URLS[0]) is not None
    assert _psycopg_params(UNUSUAL_URLS[-4]) is not None  # the test suite's own shape
    assert _psycopg_params(UNUSUAL_URLS[-1]) == {"user": "u", "host": "h", "dbname": "db",
                                                 "port": "6432"}  # no clash: as SQLAlchemy
    for url in UNUSUAL_URLS[1:9]:
        assert _psycopg_params(url) is None, url


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_embedded_submit_loads_no_farm_client(alice: Account, tmp_path: Path) -> None:
    """On the embedded default `render submit` renders inline (services/renders/execute,
    which still loads SQLAlchemy) and loads no Redis, RQ, psycopg, bcrypt or pydantic."""
    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(make_image(tmp_path / "s.png")), "--duration", "1")
    os.environ["RENDERCLI_TOKEN"] = alice.token
    try:
        loaded = modules_loaded_by(["render", "submit", "film", *FAST],
                                   ["rq", "redis", "psycopg", "bcrypt", "pydantic",
                                    "rendercli.services.renders.execute"])
    finally:
        del os.environ["RENDERCLI_TOKEN"]
    assert loaded == ["rendercli.services.renders.execute"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_plain_postgres_rows_carry_the_callers_token_in_every_transaction(
    cli: Cli, database_url: str
) -> None:
    """PgRows (bare psycopg, the client role): each transaction, including the ones after
    a commit and on a kept connection, acts as the token's owner under row security."""
    from rendercli.config import get_settings
    from rendercli.db.rows import PgRows, close_idle, light_rows
    from rendercli.db.schema import HEAD_REVISION

    alice = make_account(cli, "alice@example.com")
    bob = make_account(cli, "bob@example.com")
    alice.ok("project", "create", "alices")
    bob.ok("project", "create", "bobs")
    url = get_settings().database_url  # the client role's URL
    seen = []
    try:
        for token in (alice.token, bob.token, None):
            rows = light_rows(url, HEAD_REVISION, token)
            assert isinstance(rows, PgRows)
            for _ in range(2):  # a second transaction on the same connection
                seen.append([r["name"] for r in rows.all("SELECT name FROM projects")])
                rows.commit()
            rows.close()  # kept for the next one
    finally:
        close_idle()
    assert seen == [["alices"], ["alices"], ["bobs"], ["bobs"], [], []]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_forked_child_leaves_its_parents_kept_connection_alone(database_url: str) -> None:
    """A worker forks with a kept plain connection: the child opens its own and never
    closes the parent's (that would end the parent's session on the shared socket)."""
    from rendercli.config import get_settings
    from rendercli.db.rows import PgRows, close_idle, light_rows
    from rendercli.db.schema import HEAD_REVISION

    url = get_settings().database_url
    rows = light_rows(url, HEAD_REVISION)
    assert isinstance(rows, PgRows)
    parent_pid = rows.all("SELECT pg_backend_pid() AS pid")[0]["pid"]
    rows.close()  # kept
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit status
        code = 1
        try:
            from rendercli.db.engines import after_fork

            after_fork()  # what a forked worker does first
            mine = light_rows(url, HEAD_REVISION)
            pid = mine.all("SELECT pg_backend_pid() AS pid")[0]["pid"]  # type: ignore[union-attr]
            mine.close()  # type: ignore[union-attr]
            close_idle()
            import gc

            gc.collect()
            code = 0 if pid != parent_pid else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    again = light_rows(url, HEAD_REVISION)
    assert isinstance(again, PgRows)
    assert again.all("SELECT pg_backend_pid() AS pid")[0]["pid"] == parent_pid
    again.close()
    close_idle()


def test_an_unreachable_server_is_asked_once_per_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The session path says why a database cannot be reached; the plain path must not
    make every command wait for a dead server's timeout twice first."""
    import psycopg

    from rendercli.db import rows

    attempts: list[dict[str, object]] = []

    def refuse(**params: object) -> None:
        attempts.append(params)
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(psycopg, "connect", refuse)
    monkeypatch.setattr(rows, "_unreachable", set())
    url = "postgresql+psycopg://u:p@dead.invalid:5432/db"
    assert rows.pg_rows(url, "0006") is None
    assert rows.pg_rows(url, "0006") is None
    assert len(attempts) == 1
