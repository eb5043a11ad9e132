"""Schema version checks and upgrades (Alembic, shipped inside the package)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rendercli.db import access
from rendercli.errors import DatabaseUnreachable, OperationFailed

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection, Engine

# The newest migration. A test checks it against Alembic's head, so this stays true;
# comparing a constant avoids loading Alembic on every command.
HEAD_REVISION = "0014"

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The revision stamped in the database, or None for an empty database."""
    from sqlalchemy import inspect, text

    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> list[str]:
    """Apply migrations up to `revision` on the engine's database; on PostgreSQL also
    (re)apply the client and worker roles' grants and policies (rendercli/db/access.py).
    Returns warnings (roles that do not exist yet)."""
    from alembic import command

    with _migrating(engine) as (cfg, conn):
        command.upgrade(cfg, revision)
        return access.apply(conn) if revision == "head" else []


def downgrade(engine: Engine, revision: str) -> None:
    """Undo migrations down to `revision`, keeping every row the older schema can hold
    (for tests and for going back to an older rendercli by hand)."""
    from alembic import command

    with _migrating(engine) as (cfg, _):
        command.downgrade(cfg, revision)


@contextmanager
def _migrating(engine: Engine) -> Iterator[tuple[Config, Connection]]:
    """One transaction to migrate in, with Alembic pointed at it."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            # Batch mode rebuilds a SQLite table by dropping the old one, and with foreign
            # keys on that drop first deletes every row referring to it (ON DELETE CASCADE:
            # rebuilding users would empty projects, assets and jobs). The pragma is a no-op
            # inside a transaction, so it is set before the migration's and reset after.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
            # pysqlite opens a transaction only before DML, so a migration's CREATE TABLE
            # would commit on its own and a failed upgrade leave half a schema behind.
            # With the driver's own handling off and an explicit BEGIN, every migration of
            # the upgrade commits or rolls back as one.
            dbapi = conn.connection.dbapi_connection
            isolation = dbapi.isolation_level
            dbapi.isolation_level = None
        try:
            with conn.begin():
                if sqlite:
                    conn.exec_driver_sql("BEGIN")
                cfg.attributes["connection"] = conn
                yield cfg, conn
        finally:
            if sqlite:
                conn.rollback()
                dbapi.isolation_level = isolation
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def ensure_current(engine: Engine) -> None:
    """Make sure the schema is at HEAD_REVISION before a command uses the database.

    SQLite (the embedded default) upgrades itself. Anything else must be upgraded on
    purpose with `rendercli db upgrade`, because other machines may share it.
    """
    from sqlalchemy.exc import OperationalError

    try:
        revision = current_revision(engine)
    except OperationalError as exc:
        raise DatabaseUnreachable(_unreachable(engine, exc)) from None
    if revision == HEAD_REVISION:
        return
    if engine.dialect.name == "sqlite":
        try:
            upgrade(engine)
        except OperationalError:
            # Another process may have upgraded it at the same moment.
            if current_revision(engine) != HEAD_REVISION:
                raise
        return
    if revision is None:
        raise OperationFailed(
            "the database has no rendercli schema yet: run `rendercli db upgrade`"
        )
    if not _is_known(revision):
        raise OperationFailed(
            f"the database schema ({revision}) is newer than this rendercli: upgrade rendercli"
        )
    raise OperationFailed(
        f"the database schema is out of date ({revision}, needs {HEAD_REVISION}): "
        "run `rendercli db upgrade`"
    )


def _is_known(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    try:
        return script.get_revision(revision) is not None
    except Exception:
        return False


def _unreachable(engine: Engine, exc: Exception) -> str:
    reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else "error"
    where = engine.url.render_as_string(hide_password=True)
    return f"cannot reach the database at {where}: {reason}"
