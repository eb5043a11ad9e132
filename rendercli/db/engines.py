"""SQLAlchemy engines, built lazily (never at import) and cached per URL: what reads a
database URL, checks or migrates the schema (`check_schema`, rendercli.db.schema), and
serves `db upgrade` and `doctor`. Units of work run plain SQL over their own connection
(rendercli.db.connect); no ORM session is used at run time.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from rendercli.db.rows import close_idle, set_lock_timeout
from rendercli.db.schema import ensure_current
from rendercli.errors import InvalidInput

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_checked_urls: set[str] = set()


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys are off by default in SQLite; cascades need them on.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _create(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            # Embedded data is private: a new data dir 0700, a new database file 0600
            # (SQLite gives its -wal and -shm files the database file's mode).
            from rendercli.fsmodes import ensure_private_dir, ensure_private_file

            ensure_private_dir(Path(parsed.database).parent)
            ensure_private_file(Path(parsed.database))
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    # pre_ping: a worker outlives a PostgreSQL restart by reconnecting transparently.
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    event.listen(engine, "connect", _on_postgres_connect)
    return engine


def _on_postgres_connect(dbapi_connection: Any, _record: Any) -> None:
    set_lock_timeout(dbapi_connection)


def get_engine(url: str) -> Engine:
    """The engine for a database URL (one per URL per process).

    Raises InvalidInput when the URL is malformed or names a database we don't support.
    """
    with _lock:
        if url not in _engines:
            _engines[url] = _create_checked(url)
        return _engines[url]


def checked_url(url: str) -> URL:
    """Parse a database URL, or raise InvalidInput saying what is accepted."""
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    if parsed is None or parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise InvalidInput(
            "RENDERCLI_DATABASE_URL must be sqlite:///path or "
            "postgresql+psycopg://user:password@host/db"
        )
    return parsed


def _create_checked(url: str) -> Engine:
    from sqlalchemy.exc import NoSuchModuleError

    checked_url(url)
    try:
        return _create(url)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise InvalidInput(
            f"RENDERCLI_DATABASE_URL names a driver that is not installed ({exc}); "
            "use postgresql+psycopg://"
        ) from None


def check_schema(url: str) -> None:
    """Make sure the schema at `url` is current, once per URL per process.

    Raises OperationFailed when the database is unreachable or its schema is not current
    (the embedded SQLite default creates or upgrades itself instead)."""
    if url in _checked_urls:
        return
    ensure_current(get_engine(url))
    _checked_urls.add(url)


def forget_schema_checks() -> None:
    """Check schema versions again on next use (tests that change a database's schema)."""
    _checked_urls.clear()


def display_url(url: str) -> str:
    """The URL with any password masked, for messages and keyring keys."""
    return checked_url(url).render_as_string(hide_password=True)


def dispose_all() -> None:
    """Close every pooled connection (and the plain SQL connections kept by
    rendercli.db.rows) and forget the engines and schema checks (tests, forked workers)."""
    close_idle()
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _checked_urls.clear()


def after_fork() -> None:
    """In a forked child: drop the pooled connections inherited from the parent without
    closing them (they are the parent's), so the child opens its own. Two processes
    talking over one PostgreSQL connection corrupt each other's sessions."""
    close_idle()  # the parent's plain connections are set aside, not closed
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=False)
