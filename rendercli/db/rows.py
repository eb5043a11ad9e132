"""Plain SQL over a DB-API connection: the read path of the commands people run most.

`jobs status`, `jobs list` and `project list` ask one or two indexed questions. Importing
SQLAlchemy's ORM and declaring the models costs several times more than asking them, so
these queries are written once in SQL (ownership in the WHERE clause, as everywhere) and
run through `Rows`:

- on the embedded SQLite default, over a bare `sqlite3` connection, when the database
  file exists and its schema is current (`sqlite_rows`); SQLAlchemy is never imported;
- otherwise over the connection of the unit of work's ORM session (`SessionRows`), so
  PostgreSQL sees the same statements, inside the same transaction, with row-level
  security in force.

Statements use `:name` parameters (and never a `::` cast); values come back as Python
values with timestamps as aware UTC datetimes on both databases.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class Rows(Protocol):
    """What a read query needs from a connection."""

    def all(self, sql: str, **params: Any) -> list[dict[str, Any]]: ...

    def run(self, sql: str, **params: Any) -> int: ...


class SqliteRows:
    """A bare sqlite3 connection (the embedded default, schema current)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def all(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        cursor = self.connection.execute(sql, _sqlite_params(params))
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def run(self, sql: str, **params: Any) -> int:
        return self.connection.execute(sql, _sqlite_params(params)).rowcount

    def commit(self) -> None:
        self.connection.commit()

    def close(self) -> None:
        self.connection.rollback()
        self.connection.close()


class SessionRows:
    """The connection of an ORM session: same statements, same transaction."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def _execute(self, sql: str, params: Mapping[str, Any]) -> Any:
        connection = self.session.connection()
        if connection.dialect.name == "sqlite":
            return connection.exec_driver_sql(sql, _sqlite_params(params))
        sql = _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))
        return connection.exec_driver_sql(sql, dict(params))

    def all(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        return [dict(row._mapping) for row in self._execute(sql, params)]

    def run(self, sql: str, **params: Any) -> int:
        return int(self._execute(sql, params).rowcount or 0)


def sqlite_rows(url: str, head_revision: str) -> SqliteRows | None:
    """A bare connection to an embedded SQLite database whose schema is `head_revision`,
    or None (not SQLite, no file yet, an older or newer schema): use the ORM session."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    path = Path(url[len(prefix):])
    if not path.is_file():
        return None
    try:
        connection = sqlite3.connect(path, timeout=30, isolation_level="DEFERRED")
    except sqlite3.Error:
        return None
    try:
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA busy_timeout=30000")
        found = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        found = []
    if found != [(head_revision,)]:
        connection.close()
        return None
    return SqliteRows(connection)


def as_datetime(value: Any) -> datetime | None:
    """A timestamp column as an aware UTC datetime (SQLite keeps naive UTC text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def as_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _sqlite_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Datetimes as the text SQLAlchemy stores in SQLite (naive UTC, microseconds), so
    comparisons in SQL agree with the ORM's."""
    return {key: value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            if isinstance(value, datetime) else value for key, value in params.items()}
