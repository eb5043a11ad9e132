"""Opening a unit of work's connection: the one way the code reaches the database."""

from __future__ import annotations

import sqlite3

from rendercli.db import rows as rows_module
from rendercli.db.rows import PgRows, SqliteRows


def connect(url: str, head_revision: str, token: str | None = None) -> SqliteRows | PgRows:
    """A connection to the database at `url`, whose schema is `head_revision`, for one
    unit of work; on PostgreSQL its transactions carry `token`.

    The common case costs one indexed read and never imports SQLAlchemy. Otherwise
    SQLAlchemy reads the URL and checks the schema once per process
    (rendercli.db.engines): the embedded SQLite default is created or upgraded there,
    and anything else that is not current or not reachable raises OperationFailed (or
    InvalidInput for a malformed URL) saying why."""
    rows = rows_module.light_rows(url, head_revision, token)
    if rows is not None:
        return rows
    from rendercli.db.engines import check_schema, get_engine

    check_schema(url)  # raises, saying why, unless the schema is current
    rows_module.forget_unreachable(url)
    rows = rows_module.light_rows(url, head_revision, token)
    if rows is not None:
        return rows
    # A URL the plain readers don't take apart (query options, a driver's own
    # spelling): connect as SQLAlchemy's dialect would, to the same database.
    engine = get_engine(url)
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    if engine.dialect.name == "sqlite":
        connection = sqlite3.connect(*args, **{**kwargs, "isolation_level": "DEFERRED"})
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA busy_timeout=30000")
        return SqliteRows(connection)
    import psycopg

    connection = psycopg.connect(*args, **kwargs)
    rows_module.set_lock_timeout(connection)
    return PgRows(connection, url, token)
