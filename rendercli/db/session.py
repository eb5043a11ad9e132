"""Engines and session factories, built lazily (never at import) and cached per URL.

A session factory is only handed out for a database whose schema is current: the first
`get_session_factory(url)` in a process checks it (see `rendercli.db.schema`); later ones
reuse that answer. Engines alone (`get_engine`) are not checked: `db upgrade` and
`doctor` need them on databases that are not current yet.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_factories: dict[str, sessionmaker[Session]] = {}
_checked_urls: set[str] = set()

SessionFactory = sessionmaker[Session]


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
    from rendercli.db.rows import set_lock_timeout

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

    from rendercli.errors import InvalidInput

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

    from rendercli.errors import InvalidInput

    checked_url(url)
    try:
        return _create(url)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise InvalidInput(
            f"RENDERCLI_DATABASE_URL names a driver that is not installed ({exc}); "
            "use postgresql+psycopg://"
        ) from None


def get_session_factory(url: str) -> SessionFactory:
    """A session factory bound to the URL's engine, once its schema is known to be current.

    Raises OperationFailed when the database is unreachable or its schema is not current
    (the embedded SQLite default upgrades itself instead).
    """
    if url not in _checked_urls:
        from rendercli.db.schema import ensure_current

        ensure_current(get_engine(url))
        _checked_urls.add(url)
    with _lock:
        if url not in _factories:
            _factories[url] = sessionmaker(bind=None, expire_on_commit=False)
            from rendercli.db.tenancy import install

            install(_factories[url])  # PostgreSQL: each transaction carries the caller's token
        factory = _factories[url]
    factory.configure(bind=get_engine(url))
    return factory


def default_session_factory() -> SessionFactory:
    """The session factory for the configured database (RENDERCLI_DATABASE_URL)."""
    from rendercli.config import get_settings

    return get_session_factory(get_settings().database_url)


def forget_schema_checks() -> None:
    """Check schema versions again on next use (tests that change a database's schema)."""
    _checked_urls.clear()


def display_url(url: str) -> str:
    """The URL with any password masked, for messages and keyring keys."""
    return checked_url(url).render_as_string(hide_password=True)


def dispose_all() -> None:
    """Close every pooled connection (and the plain SQL connections kept by
    rendercli.db.rows) and forget the engines and schema checks (tests, forked workers)."""
    from rendercli.db.rows import close_idle

    close_idle()
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _factories.clear()
        _checked_urls.clear()


def after_fork() -> None:
    """In a forked child: drop the pooled connections inherited from the parent without
    closing them (they are the parent's), so the child opens its own. Two processes
    talking over one PostgreSQL connection corrupt each other's sessions."""
    from rendercli.db.rows import close_idle

    close_idle()  # the parent's plain connections are set aside, not closed
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=False)
