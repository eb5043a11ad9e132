"""Plain SQL over a DB-API connection: the one way rendercli reads and writes rows.

A unit of work (rendercli.services.unit_of_work) runs its statements through `Rows`:

- on SQLite (the embedded default), over a bare `sqlite3` connection (`SqliteRows`);
- on PostgreSQL, over a bare psycopg connection (`PgRows`): each transaction first sets
  the caller's token (rendercli.db.tenancy), so row-level security sees the caller.

rendercli.db.connect opens them (SQLAlchemy is imported only to check or create the
schema, or to read an unusual URL). The queries themselves live in rendercli.repositories,
each written once, with ownership in the WHERE clause. Statements use `:name` parameters
(and never a `::` cast); values come back as Python values with timestamps as aware UTC
datetimes on both databases.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class Rows(Protocol):
    """One transaction's connection, for the data access modules (rendercli.repositories).

    `all` returns every row as a dict, `one` the first row or None, `scalar` the first
    column of the first row or None, `run` the number of rows a change touched.
    `postgres` says which SQL dialect is on the other end."""

    postgres: bool

    def all(self, sql: str, **params: Any) -> list[dict[str, Any]]: ...

    def run(self, sql: str, **params: Any) -> int: ...

    def one(self, sql: str, **params: Any) -> dict[str, Any] | None: ...

    def scalar(self, sql: str, **params: Any) -> Any: ...


class _Reads:
    """`one` and `scalar`, written once over `all`."""

    def all(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    def one(self, sql: str, **params: Any) -> dict[str, Any] | None:
        found = self.all(sql, **params)
        return found[0] if found else None

    def scalar(self, sql: str, **params: Any) -> Any:
        row = self.one(sql, **params)
        return None if row is None else next(iter(row.values()))


_NAME = re.compile(r"[a-z_][a-z0-9_]*")
CHUNK = 500  # values per IN (...) list
MAX_PARAMS = 30_000  # per statement: PostgreSQL takes 65,535, SQLite (3.32+) 32,766


def in_lists(values: Sequence[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """`(:v0, :v1, ...)` and its parameters, CHUNK values at a time (a batch may name
    10,000 projects)."""
    for start in range(0, len(values), CHUNK):
        params = {f"v{k}": value for k, value in enumerate(values[start:start + CHUNK])}
        yield "(" + ", ".join(":" + name for name in params) + ")", params


def insert(rows: Rows, table: str, *values: Mapping[str, Any]) -> None:
    """INSERT rows into `table`: the table and column names are written in our code
    (checked), the values are parameters. Rows with the same columns go in as few
    statements as the parameter limit allows (10,000 rows are not 10,000 round trips).
    Over `Inserts`, the rows wait for its `flush`."""
    if isinstance(rows, Inserts):
        rows.pending.setdefault(table, []).extend(values)
        return
    by_columns: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in values:
        by_columns.setdefault(tuple(row), []).append(row)
    for names, group in by_columns.items():
        if not _NAME.fullmatch(table) or not all(_NAME.fullmatch(n) for n in names):
            raise ValueError(f"not a table or column name: {table} {names}")
        per = max(1, MAX_PARAMS // max(1, len(names)))
        for start in range(0, len(group), per):
            params: dict[str, Any] = {}
            tuples = []
            for k, row in enumerate(group[start:start + per]):
                params.update((f"r{k}_{n}", row[n]) for n in names)
                tuples.append("(" + ", ".join(f":r{k}_{n}" for n in names) + ")")
            rows.run(f"INSERT INTO {table} ({', '.join(names)}) VALUES {', '.join(tuples)}",
                     **params)


class Inserts(_Reads):
    """`rows` whose INSERTs (through `insert`) wait for `flush`, then go together,
    parents before children; every other statement runs at once."""

    ORDER = ("projects", "assets", "asset_titles", "asset_texts")

    def __init__(self, rows: Rows) -> None:
        self.rows = rows
        self.postgres = rows.postgres
        self.pending: dict[str, list[Mapping[str, Any]]] = {}

    def all(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        return self.rows.all(sql, **params)

    def run(self, sql: str, **params: Any) -> int:
        return self.rows.run(sql, **params)

    def flush(self) -> None:
        for table in (*self.ORDER, *self.pending):
            insert(self.rows, table, *self.pending.pop(table, ()))


class SqliteRows(_Reads):
    """A bare sqlite3 connection (the embedded default, schema current)."""

    postgres = False

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


class PgRows(_Reads):
    """A bare psycopg connection (PostgreSQL, schema current). Each transaction starts
    by setting the unit of work's token (rendercli.db.tenancy), so row-level security
    sees its caller."""

    postgres = True

    def __init__(self, connection: Any, url: str, token: str | None = None) -> None:
        self.connection = connection
        self.url = url
        self.token = token  # the caller; set at the start of each transaction

    def _execute(self, sql: str, params: Mapping[str, Any]) -> Any:
        from psycopg.pq import TransactionStatus

        if self.connection.info.transaction_status == TransactionStatus.IDLE:
            token = self.token
            if token is not None:  # is_local: ends with the transaction
                self.connection.execute(
                    "SELECT set_config('rendercli.token', %(t)s, true)", {"t": token})
        return self.connection.execute(_pg_sql(sql), dict(params))

    def all(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        cursor = self._execute(sql, params)
        names = [d.name for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def run(self, sql: str, **params: Any) -> int:
        return int(self._execute(sql, params).rowcount or 0)

    def commit(self) -> None:
        self.connection.commit()

    def close(self) -> None:
        """Roll back; keep the connection for the next unit of work of this process."""
        try:
            self.connection.rollback()
        except Exception:
            self.connection.close()
            return
        _keep(self.url, self.connection)


def _pg_sql(sql: str) -> str:
    return _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


# One idle connection per URL, reused by the next unit of work in this process (a
# command opens several in a row; a new PostgreSQL connection costs more than a query).
# A forked child never uses or closes its parent's: closing would end the parent's
# session on the shared socket, so those are only held (`_inherited`) until exit.
_idle_lock = threading.Lock()
_idle: dict[str, tuple[int, Any]] = {}
_inherited: list[Any] = []


def _keep(url: str, connection: Any) -> None:
    with _idle_lock:
        old = _idle.pop(url, None)
        _idle[url] = (os.getpid(), connection)
    if old is not None:
        _let_go(*old)


def _let_go(pid: int, connection: Any) -> None:
    if pid == os.getpid():
        connection.close()
    else:
        _inherited.append(connection)


def _reuse(url: str) -> Any:
    with _idle_lock:
        found = _idle.pop(url, None)
    if found is None:
        return None
    pid, connection = found
    if pid != os.getpid():
        _inherited.append(connection)
        return None
    return None if connection.closed else connection


# Query keys psycopg.connect would take as its own arguments, not as connection
# parameters (autocommit would end every transaction, and the caller's token with it,
# after one statement).
_PSYCOPG_ARGUMENTS = frozenset({"autocommit", "prepare_threshold", "row_factory",
                                "cursor_factory", "context", "conninfo"})
# URLs that could not be reached in this process: asked once, then SQLAlchemy's check
# (rendercli.db.connect, which says why) runs directly: a dead server costs one timeout.
_unreachable: set[str] = set()


def _psycopg_params(url: str) -> dict[str, Any] | None:
    """psycopg.connect's arguments for a `postgresql+psycopg://` URL, as SQLAlchemy's
    psycopg dialect passes them; None for any other or unusual URL (rendercli.db.connect
    then reads it, and rejects it if it must)."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    prefix = "postgresql+psycopg://"
    if not url.startswith(prefix):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        return None
    if (parts.fragment or "," in parts.netloc or parts.netloc.count("@") > 1
            or "%" in (parts.hostname or "") or len({k for k, _ in query}) != len(query)
            or any(key in _PSYCOPG_ARGUMENTS or not value for key, value in query)):
        return None  # where the two readings of a URL could differ, SQLAlchemy's decides
    body = {"user": parts.username, "password": parts.password, "host": parts.hostname,
            "port": port, "dbname": parts.path.lstrip("/")}
    if any(body.get(key) not in (None, "") for key, _ in query):
        return None  # the query names a part the body names too: SQLAlchemy's query wins
    params: dict[str, Any] = dict(query)
    for key, value in (("user", parts.username), ("password", parts.password),
                       ("host", parts.hostname), ("port", port)):
        if value is not None and value != "":
            params[key] = unquote(value) if isinstance(value, str) else value
    database = parts.path[1:] if parts.path.startswith("/") else parts.path
    if database:
        params["dbname"] = unquote(database)
    return params


def pg_rows(url: str, head_revision: str, token: str | None = None) -> PgRows | None:
    """A bare psycopg connection to a PostgreSQL database whose schema is
    `head_revision`, or None (another URL, unreachable, another schema):
    rendercli.db.connect then asks SQLAlchemy, which says why. The schema is asked on
    every use (one indexed read), so a kept connection whose server went away is never
    handed out."""
    connection = _reuse(url)
    if connection is None:
        params = _psycopg_params(url)
        if params is None or url in _unreachable:
            return None
        try:
            import psycopg

            connection = psycopg.connect(**params)
        except Exception:
            _unreachable.add(url)
            return None
        try:
            set_lock_timeout(connection)
        except Exception:
            connection.close()
            return None
    try:
        found = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        connection.rollback()
    except Exception:
        found = []
    if found != [(head_revision,)]:
        connection.close()
        return None
    return PgRows(connection, url, token)


def forget_unreachable(url: str) -> None:
    """Try the plain connection to `url` again (its schema was just found current)."""
    _unreachable.discard(url)


def set_lock_timeout(connection: Any) -> None:
    """Make a new PostgreSQL connection wait at most RENDERCLI_LOCK_TIMEOUT for any lock.

    Any client login can take a strong table lock (LOCK TABLE needs only UPDATE or
    DELETE on the table) and hold it; with this, everyone else's statements fail with
    `lock_timed_out` errors after seconds instead of hanging. Session-wide (committed),
    so it holds for every later transaction on the connection."""
    from rendercli.config import lock_timeout

    milliseconds = max(1, round(lock_timeout() * 1000))
    cursor = connection.cursor()
    cursor.execute("SELECT set_config('lock_timeout', %(v)s, false)",
                   {"v": f"{milliseconds}ms"})
    cursor.close()
    connection.commit()


def skip_locked(rows: Rows) -> str:
    """`FOR UPDATE SKIP LOCKED` on PostgreSQL, else nothing: upkeep takes the rows it
    changes only if no other session holds them. A client may lock its own job and task
    rows and sit on them; the farm's upkeep then skips those rows (a later sweep gets
    them) instead of waiting and failing the step for every account."""
    return " FOR UPDATE SKIP LOCKED" if rows.postgres else ""


def lock_timed_out(exc: BaseException) -> bool:
    """True when a PostgreSQL statement gave up waiting for a lock (SQLSTATE 55P03),
    whether the driver's error is bare or wrapped by SQLAlchemy."""
    orig = getattr(exc, "orig", None) or exc
    return str(getattr(orig, "sqlstate", None) or "") == "55P03"


def close_idle() -> None:
    """Close the kept connections (tests, before dropping a database)."""
    with _idle_lock:
        kept = list(_idle.values())
        _idle.clear()
    for pid, connection in kept:
        _let_go(pid, connection)


def light_rows(url: str, head_revision: str,
               token: str | None = None) -> SqliteRows | PgRows | None:
    """Plain SQL without SQLAlchemy on the configured database, when it is current;
    on PostgreSQL each transaction carries `token` (the caller)."""
    if url.startswith("sqlite"):
        return sqlite_rows(url, head_revision)
    return pg_rows(url, head_revision, token)


def integrity_error(exc: BaseException) -> bool:
    """True when a statement broke a constraint (unique, foreign key, check), on either
    database, whether the driver's error is bare or wrapped by SQLAlchemy."""
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, sqlite3.IntegrityError):
        return True
    return str(getattr(orig, "sqlstate", None) or "").startswith("23")


def sqlite_rows(url: str, head_revision: str) -> SqliteRows | None:
    """A bare connection to an embedded SQLite database whose schema is `head_revision`,
    or None (not SQLite, no file yet, an older or newer schema): rendercli.db.connect
    then checks it with SQLAlchemy."""
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
