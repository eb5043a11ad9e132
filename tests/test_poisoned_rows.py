"""What one client can do to everyone with raw SQL (issue 19): poison dispatch with a job id
RQ refuses, lock a shared table, or give itself a 10-year session. Each attack is made
as the client role on the suite's real PostgreSQL (and, where it applies, on SQLite)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import errors
from sqlalchemy import create_engine, text

from rendercli.config import read_settings
from rendercli.services.unit_of_work import UnitOfWork
from tests.conftest import TEST_PASSWORD, Account, Cli
from tests.farm import Farm
from tests.servers import PostgresServer
from tests.test_tenancy import Tenants, libpq, tenants  # noqa: F401  (the fixture)

POISON = "../../victim/x"
# (id, project, owner, created, updated); OLD_JOB_SQL: before jobs named their owner (0013).
JOB_SQL = ("INSERT INTO render_jobs (id, project_id, owner_id, status, progress, preset, format, "
           "fps, quality, use_cache, attempts, created_at, updated_at) VALUES (%s, %s, %s, "
           "'queued', 0, '720p', 'mp4', 30, 'standard', true, 0, %s, %s)")
OLD_JOB_SQL = ("INSERT INTO render_jobs (id, project_id, status, progress, preset, format, fps, "
               "quality, use_cache, attempts, created_at, updated_at) VALUES (%s, %s, 'queued', "
               "0, '720p', 'mp4', 30, 'standard', true, 0, %s, %s)")


@pytest.mark.parametrize("bad", [POISON, "", "Abc", "1abc", "ab-c", "ab_c", "ab c", "ab\u00e9c"])
def test_the_database_refuses_ids_rendercli_does_not_make(
        tenants: Tenants, bad: str) -> None:  # noqa: F811
    """As bob (client role, his own valid token), in his own project: every table a client
    writes refuses an id of another shape; an id of the right shape is accepted."""
    t = tenants
    project, asset = t.ids["bob_project"], t.ids["bob_asset"]
    done = JOB_SQL.replace("'queued'", "'completed'").replace("%s, %s)", "now(), now())")
    statements = [
        (done, (bad, project, t.ids["bob_user"])),
        (done.replace("(id, ", "(batch_id, id, ").replace("(%s, ", "(%s, %s, "),
         (bad, "okbatchjob", project, t.ids["bob_user"])),
        ("INSERT INTO projects (id, owner_id, name, created_at, updated_at) VALUES "
         "(%s, %s, 'x', now(), now())", (bad, t.ids["bob_user"])),
        ("INSERT INTO assets (id, project_id, position, kind, display_name, sha256, "
         "storage_key, size_bytes, container, rotation, has_audio, transition, "
         "transition_seconds, fade_in, fade_out, volume, mute, duck, created_at, updated_at) "
         "VALUES (%s, %s, NULL, 'font', 'f.ttf', 'x', 'x', 1, 'ttf', 0, false, 'none', 0, 0, "
         "0, 1, false, false, now(), now())", (bad, project)),
        ("INSERT INTO asset_texts (id, asset_id, position, text, start, placement, size, "
         "color, box, created_at) VALUES (%s, %s, 9, 'x', 0, 'center', 'small', 'white', "
         "false, now())", (bad, asset)),
        ("INSERT INTO analytics_events (id, name, user_id, properties, created_at) VALUES "
         "(%s, 'x', %s, '{}', now())", (bad, t.ids["bob_user"])),
    ]
    for n, (sql, params) in enumerate(statements):
        with pytest.raises(errors.CheckViolation):
            t.run(sql, params)
        assert t.run(sql, (f"okid{n}", *params[1:])) == [(1,)]  # the same, well formed
    for table in ("render_jobs", "projects", "assets", "asset_texts", "analytics_events"):
        assert t.owner(f"SELECT count(*) FROM {table} WHERE id = %s", (bad,)) == [(0,)]


def test_sqlite_refuses_them_too(database_url: str, alice: Account) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the PostgreSQL side is test_the_database_refuses_ids_...")
    alice.ok("project", "create", "film")
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
        project, owner = conn.execute("SELECT id, owner_id FROM projects").fetchone()
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
            conn.execute(JOB_SQL.replace("%s", "?"), (POISON, project, owner, "2026-01-01",
                                                     "2026-01-01"))
        conn.execute(JOB_SQL.replace("%s", "?"),
                     ("okjob", project, owner, "2026-01-01", "2026-01-01"))


@pytest.fixture
def poisoned(database_url: str, alice: Account) -> Iterator[tuple[str, str]]:
    """A queued row with a poisoned id made before a well-formed one, as a database
    could hold it before the check existed: (poisoned id, good id). The constraint is
    set aside as the owner (SQLite: for one connection) to get the row in."""
    alice.ok("project", "create", "film")
    alice.ok("project", "create", "other")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        ids = dict(conn.execute(text("SELECT name, id FROM projects")).all())
        owner = conn.execute(text("SELECT owner_id FROM projects")).scalars().first()
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
        else:
            conn.exec_driver_sql("ALTER TABLE render_jobs DROP CONSTRAINT IF EXISTS "
                                 "ck_render_jobs_id_shape")
        for job, project, at in ((POISON, ids["film"], "2026-01-01 00:00:00"),
                                 ("goodjob1", ids["other"], "2026-01-02 00:00:00")):
            conn.execute(text(JOB_SQL % (":id", ":project", ":owner", ":at", ":at")),
                         {"id": job, "project": project, "owner": owner, "at": at})
    engine.dispose()
    yield POISON, "goodjob1"


def test_one_poisoned_row_does_not_stop_dispatch(
        farm: Farm, database_url: str, poisoned: tuple[str, str]) -> None:
    """The reconciler (what every worker's sweep runs) fails the poisoned row with the
    reason and dispatches the rows after it, with a real Redis. The old code raised RQ's
    ValueError and dispatched nothing, every sweep."""
    from rq.job import Job

    from rendercli.services.renders import dispatch
    from tests.orm import get_session_factory

    bad, good = poisoned
    worker = get_session_factory(os.environ.get("RENDERCLI_WORKER_DATABASE_URL", database_url))
    connection = dispatch.redis_connection(read_settings().redis_url)
    assert dispatch.reconcile(connection, uow=UnitOfWork(worker.url)) == [good]
    assert Job.exists(good, connection=connection)
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, status FROM render_jobs")).all())
        error = conn.execute(text("SELECT error FROM render_jobs WHERE id = :i"),
                             {"i": bad}).scalar_one()
    engine.dispose()
    assert rows == {bad: "failed", good: "queued"}
    assert error.startswith("could not be dispatched: its id is not one rendercli makes")
    assert dispatch.reconcile(connection, uow=UnitOfWork(worker.url)) == []  # and nothing twice


def test_a_login_session_lasts_at_most_365_days(tenants: Tenants) -> None:  # noqa: F811
    """The CLI caps RENDERCLI_TOKEN_DAYS at 365; raw SQL could ask the login function
    for 3650. Now the database refuses it."""
    import bcrypt

    t = tenants
    salt = t.run("SELECT rendercli_login_salt('alice@example.com')", token=None)[0][0]
    proof = bcrypt.hashpw(TEST_PASSWORD.encode(), salt.encode()).decode()
    for days in (3650, 366, 0, -5):
        with pytest.raises(errors.InvalidParameterValue, match="from 1 to 365 days"):
            t.run("SELECT * FROM rendercli_login('alice@example.com', %s, 'x', %s)",
                  (proof, days), token=None)
    [(days,)] = t.run("SELECT extract(day FROM expires_at - now()) FROM "
                      "rendercli_login('alice@example.com', %s, 'x', 365)", (proof,), token=None)
    assert 364 <= days <= 365
    [(days,)] = t.run("SELECT extract(day FROM expires_at - now()) FROM "
                      "rendercli_login('alice@example.com', %s, 'x', NULL)", (proof,), token=None)
    assert 29 <= days <= 30  # no length given: the default 30 days
    # API tokens keep their own documented range (1 to 3650 days, or none): unchanged.
    with pytest.raises(errors.InvalidParameterValue):
        t.run("SELECT * FROM rendercli_create_token('ci', 3651)")


@pytest.mark.parametrize("table", ["projects", "assets", "asset_titles", "asset_texts"])
def test_a_table_lock_held_by_another_login_fails_a_command_within_seconds(
        tenants: Tenants, cli: Cli, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        table: str) -> None:
    """A client login without any token takes ACCESS EXCLUSIVE on a shared table and
    sits on it. Alice's command stops after RENDERCLI_LOCK_TIMEOUT with one line (exit 1)
    instead of hanging for as long as the lock is held (the old code: until the holder
    let go, here after 30 s)."""
    from rendercli.db.engines import dispose_all

    t = tenants
    alice = {"RENDERCLI_TOKEN": t.alice_token}
    cli.ok("project", "create", "film", env=alice)
    cli.ok("title", "add", "film", "Hello", env=alice)
    dispose_all()  # new connections: they read RENDERCLI_LOCK_TIMEOUT when they open
    monkeypatch.setenv("RENDERCLI_LOCK_TIMEOUT", "1")
    holder = psycopg.connect(libpq(t.client_url))
    holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    release = threading.Timer(30, holder.rollback)
    release.start()
    try:
        started = time.monotonic()
        result = cli("asset", "list", "film", env=alice)
        elapsed = time.monotonic() - started
    finally:
        release.cancel()
        holder.rollback()
        holder.close()
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr == (
        "error: the database is busy: another session has held a lock on data this command "
        "needs for longer than RENDERCLI_LOCK_TIMEOUT; try again\n")
    assert elapsed < 10
    cli.ok("asset", "list", "film", env=alice)  # and once it is let go, all is well


def test_a_worker_waits_out_a_table_lock_and_renders(
        farm: Farm, database_url: str, alice: Account, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """For a worker a lock timeout is transient: it retries reading the job's timeline
    (with backoff) and renders once the lock is let go. The old code waited on the lock
    with no limit at all, as long as the holder pleased."""
    import json
    import logging

    from rendercli.db.engines import dispose_all
    from rendercli.services.renders.execute import execute

    if database_url.startswith("sqlite"):
        pytest.skip("table locks by another login: PostgreSQL")
    alice.ok("project", "create", "film")
    alice.ok("title", "add", "film", "Hello", "--duration", "1")
    job_id = json.loads(alice.ok("render", "submit", "film", "--preset", "480p", "--fps",
                                 "10", "--quality", "draft", "--json").stdout)["id"]
    dispose_all()
    monkeypatch.setenv("RENDERCLI_LOCK_TIMEOUT", "0.5")
    holder = psycopg.connect(libpq(os.environ["RENDERCLI_DATABASE_URL"]))  # no token at all
    holder.execute("LOCK TABLE assets IN ACCESS EXCLUSIVE MODE")
    release = threading.Timer(2.5, holder.rollback)
    release.start()
    try:
        with caplog.at_level(logging.WARNING):
            view = execute(job_id, worker_name="w1", uow=UnitOfWork(
                os.environ["RENDERCLI_WORKER_DATABASE_URL"]))
    finally:
        release.cancel()
        holder.rollback()
        holder.close()
    assert view is not None and view.status == "completed", view
    retried = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert retried and "lock timeout" in retried[0]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_upgrade_over_a_poisoned_row_stops_and_deletes_nothing(
        backend: str, postgres: PostgresServer, tmp_path: Path) -> None:
    """A database that already holds a hand-made id is not changed by the upgrade that adds
    the check: it stops naming the table, and the admin decides about the row."""
    from rendercli.db.engines import dispose_all, get_engine
    from rendercli.db.schema import HEAD_REVISION, current_revision, upgrade

    url = (f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite"
           else postgres.create_database(from_template=False))
    try:
        engine = get_engine(url)
        upgrade(engine, "0006")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO users (id, email, password_salt, password_verifier, "
                              "created_at) VALUES ('u', 'u@example.com', 's', 'v', "
                              "CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO projects (id, owner_id, name, created_at, "
                              "updated_at) VALUES ('p', 'u', 'p', CURRENT_TIMESTAMP, "
                              "CURRENT_TIMESTAMP)"))
            conn.execute(text(OLD_JOB_SQL % (":id", "'p'", "CURRENT_TIMESTAMP",
                                         "CURRENT_TIMESTAMP")), {"id": POISON})
        with pytest.raises(RuntimeError, match=r"render_jobs has 1 row\(s\) whose id is not"):
            upgrade(engine)
        assert current_revision(engine) == "0006"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM render_jobs")).scalars().all() == [POISON]
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM render_jobs"))
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
    finally:
        dispose_all()
        if backend == "postgresql":
            postgres.drop_url(url)
