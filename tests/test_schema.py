"""Migrations, the schema guard, and constraints the database itself enforces."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from rendercli.db.engines import get_engine
from rendercli.db.models import Base, Project, RenderJob, User
from rendercli.db.schema import HEAD_REVISION, alembic_config, current_revision, upgrade
from tests.conftest import Cli, make_account
from tests.orm import get_session_factory, job_in
from tests.servers import PostgresServer


def test_head_revision_constant_matches_alembic() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_heads() == [HEAD_REVISION]


def test_upgrade_head_matches_the_models(database_url: str) -> None:
    engine = get_engine(database_url)
    assert current_revision(engine) == HEAD_REVISION
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


def test_partial_unique_index_exists_on_both(database_url: str) -> None:
    engine = get_engine(database_url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            sql = conn.execute(text(
                "SELECT sql FROM sqlite_master WHERE name = 'uq_render_jobs_one_active_per_project'"
            )).scalar()
        else:
            sql = conn.execute(text(
                "SELECT indexdef FROM pg_indexes "
                "WHERE indexname = 'uq_render_jobs_one_active_per_project'"
            )).scalar()
    assert sql is not None and "UNIQUE" in sql.upper() and "queued" in sql


def _project(url: str) -> str:
    with get_session_factory(url)() as session:
        user = User(email="o@example.com", password_salt="x", password_verifier="x")
        session.add(user)
        session.flush()
        project = Project(owner_id=user.id, name="p")
        session.add(project)
        session.commit()
        return project.id


def _job(url: str, project_id: str, status: str) -> None:
    with get_session_factory(url)() as session:
        session.add(job_in(session, project_id, status=status, preset="720p",
                              format="mp4", fps=30, quality="standard"))
        session.commit()


@pytest.mark.parametrize("first", ["queued", "processing"])
@pytest.mark.parametrize("second", ["queued", "processing"])
def test_one_active_job_per_project(database_url: str, first: str, second: str) -> None:
    project_id = _project(database_url)
    for status in ("completed", "failed", "cancelled", "completed"):
        _job(database_url, project_id, status)  # history is kept, any amount
    _job(database_url, project_id, first)
    with pytest.raises(IntegrityError):
        _job(database_url, project_id, second)


def test_a_finished_job_frees_the_slot(database_url: str) -> None:
    project_id = _project(database_url)
    _job(database_url, project_id, "queued")
    with get_session_factory(database_url)() as session:
        job = session.scalars(select(RenderJob)).one()
        job.status = "completed"
        session.commit()
    _job(database_url, project_id, "queued")


def test_embedded_sqlite_upgrades_itself_on_first_use(cli: Cli, tmp_path) -> None:
    db = tmp_path / "data" / "rendercli.db"
    assert not db.exists()
    result = cli("register", "--email", "n@example.com", "--password-stdin", input="password1\n")
    assert result.exit_code == 0, result.stderr
    assert current_revision(get_engine(f"sqlite:///{db}")) == HEAD_REVISION


def test_out_of_date_postgres_asks_for_db_upgrade(
    cli: Cli, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres.create_database(from_template=False)
    try:
        monkeypatch.setenv("RENDERCLI_DATABASE_URL", url)
        result = cli("project", "list", env={"RENDERCLI_TOKEN": "rcli_x"})
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1 and "rendercli db upgrade" in result.stderr
        assert "Traceback" not in result.stdout + result.stderr

        # A revision this rendercli does not know: another machine upgraded it.
        engine = get_engine(url)
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
        from rendercli.db import schema
        from rendercli.db.engines import forget_schema_checks

        forget_schema_checks()
        newer = cli("project", "list", env={"RENDERCLI_TOKEN": "rcli_x"})
        assert newer.exit_code == 1 and "newer than this rendercli" in newer.stderr

        # An older revision this rendercli knows: as if it shipped a migration 0002.
        monkeypatch.setattr(schema, "HEAD_REVISION", "0002")
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        forget_schema_checks()
        older = cli("project", "list", env={"RENDERCLI_TOKEN": "rcli_x"})
        assert older.exit_code == 1
        assert older.stderr == (
            "error: the database schema is out of date (0001, needs 0002): "
            "run `rendercli db upgrade`\n"
        )
        monkeypatch.setattr(schema, "HEAD_REVISION", HEAD_REVISION)
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE alembic_version SET version_num = '{HEAD_REVISION}'"))
        forget_schema_checks()
        make_account(cli, "a@example.com")
        assert cli("db", "current", "--json").exit_code == 0
    finally:
        from rendercli.db.engines import dispose_all

        dispose_all()
        postgres.drop_url(url)


def test_db_upgrade_command(cli: Cli, postgres: PostgresServer, monkeypatch) -> None:
    url = postgres.create_database(from_template=False)
    try:
        monkeypatch.setenv("RENDERCLI_DATABASE_URL", url)
        result = cli("db", "upgrade")
        assert result.exit_code == 0, result.stderr
        assert f"revision {HEAD_REVISION}" in result.stdout
        assert current_revision(get_engine(url)) == HEAD_REVISION
        cli.ok("db", "upgrade")  # idempotent
    finally:
        from rendercli.db.engines import dispose_all

        dispose_all()
        postgres.drop_url(url)


def test_unreachable_database_is_one_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "RENDERCLI_DATABASE_URL", "postgresql+psycopg://u:secret@127.0.0.1:1/none?connect_timeout=2"
    )
    result = cli("project", "list", env={"RENDERCLI_TOKEN": "rcli_x"})
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach the database at postgresql+psycopg://u:***@")
    assert "secret" not in result.stderr and result.stderr.count("\n") == 1


def test_an_unreachable_database_is_an_outage_workers_retry() -> None:
    """A worker that cannot connect (the server restarting) must see an outage to wait
    out, not a reason to fail the job: jobs failed with "cannot reach the database" when
    a PostgreSQL restart fell between two of a render's transactions."""
    from rendercli.errors import DatabaseUnreachable
    from rendercli.repositories.jobs import database_away, with_db_retry
    from rendercli.services.unit_of_work import UnitOfWork

    url = "postgresql+psycopg://u:secret@127.0.0.1:1/none?connect_timeout=2"
    tries = []

    def read() -> object:
        tries.append(1)
        with UnitOfWork(url) as uow:
            return uow.rows.scalar("SELECT 1")

    with pytest.raises(DatabaseUnreachable) as raised:
        with_db_retry(read, attempts=2, first_delay=0.01)
    assert database_away(raised.value) and len(tries) == 2


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrading_an_existing_database_keeps_every_row(
    backend: str, postgres: PostgresServer, tmp_path
) -> None:
    """Upgrading from the first schema keeps projects, assets, jobs and tokens. (On SQLite
    batch mode rebuilds tables by dropping them; with foreign keys on, rebuilding users
    used to delete every project through ON DELETE CASCADE.)"""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = postgres.create_database(from_template=False)
    engine = get_engine(url)
    upgrade(engine, "0001")
    rows = {
        "users": "('u', 'u@example.com', '$2b$04$' || 'x', CURRENT_TIMESTAMP)",
        "auth_tokens": "('t', 'u', 'h', 'api', 'ci', CURRENT_TIMESTAMP, NULL, NULL, NULL)",
        "projects": "('p', 'u', 'film', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    }
    with engine.begin() as conn:
        for table, values in rows.items():
            conn.execute(text(f"INSERT INTO {table} VALUES {values}"))
        conn.execute(text(
            "INSERT INTO assets (id, project_id, position, kind, display_name, sha256, "
            "storage_key, size_bytes, container, rotation, has_audio, created_at, updated_at) "
            "VALUES ('a', 'p', 1, 'video', 'v.mp4', :k, :k, 1, 'mp4', 0, false, "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"k": "a" * 64})
        conn.execute(text(
            "INSERT INTO render_jobs (id, project_id, status, progress, preset, format, fps, "
            "quality, use_cache, attempts, created_at, updated_at) VALUES ('j', 'p', "
            "'completed', 100, '720p', 'mp4', 30, 'standard', true, 0, CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP)"))
    upgrade(engine)
    assert current_revision(engine) == HEAD_REVISION
    with engine.connect() as conn:
        for table in ("users", "auth_tokens", "projects", "assets", "render_jobs"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 1, table
        # 0013: the job was given its project's owner.
        assert conn.execute(text("SELECT owner_id FROM render_jobs")).scalar() == "u"
        if backend == "sqlite":  # and cascades work again on this connection afterwards
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    if backend == "postgresql":
        engine.dispose()
        postgres.drop_url(url)
