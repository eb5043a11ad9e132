"""A unit of work: one database transaction that rolls back unless committed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from rendercli.config import Settings
    from rendercli.db.rows import PgRows, Rows, SqliteRows


class UnitOfWork:
    """`with uow: ...; uow.commit()`. Leaving the block without commit rolls back.

    Made by the application object (rendercli.app.App.unit_of_work) with its settings
    and the caller's token; tests may name a database directly (`UnitOfWork(url)`).
    `rows` runs plain SQL (rendercli.db.rows) over one connection, opened on first use
    by rendercli.db.connect (which checks the schema once per database per process);
    on PostgreSQL each transaction carries the token, so row-level security sees the
    caller. Analytics events noted with `record_event` are written after a successful
    commit. A unit of work may be entered again after it closed: each `with` block is
    one transaction.
    """

    def __init__(self, database_url: str | None = None, *, settings: Settings | None = None,
                 token: str | None = None) -> None:
        self._database_url = database_url
        self._settings = settings
        self._token = token
        self._events: list[tuple[str, str | None, dict[str, Any]]] = []
        self._rows: SqliteRows | PgRows | None = None

    @property
    def settings(self) -> Settings:
        """The settings of the application this unit of work belongs to (read from the
        environment once, when it was made without an application)."""
        if self._settings is None:
            from rendercli.config import get_settings

            self._settings = get_settings()  # made without an App (tests naming a database)
        return self._settings

    @property
    def database_url(self) -> str:
        return self._database_url or self.settings.database_url

    @property
    def token(self) -> str | None:
        """The caller this unit of work acts for (PostgreSQL row-level security)."""
        return self._token

    def fresh(self) -> UnitOfWork:
        """A new unit of work on the same database, as the same caller (for a thread
        of its own, such as a render's heartbeat)."""
        return self.acting_as(self._token)

    def acting_as(self, token: str | None) -> UnitOfWork:
        """A new unit of work on the same database, acting as the owner of `token`."""
        return UnitOfWork(self._database_url, settings=self._settings, token=token)

    @property
    def rows(self) -> Rows:
        """Plain SQL in this unit of work's transaction (see the class docstring)."""
        if self._rows is None:
            from rendercli.db.connect import connect
            from rendercli.db.schema import HEAD_REVISION

            self._rows = connect(self.database_url, HEAD_REVISION, self.token)
        return self._rows

    def __enter__(self) -> Self:
        self._events = []
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._rows is not None:
            self._rows.close()
            self._rows = None

    def commit(self) -> None:
        if self._rows is not None:
            self._rows.commit()
        events, self._events = self._events, []
        if events:
            from rendercli.repositories.events import write_events

            write_events(self.rows, events)

    def rollback(self) -> None:
        if self._rows is not None:
            self._rows.connection.rollback()

    def record_event(self, name: str, user_id: str | None, **properties: Any) -> None:
        """Note an analytics event, written fire-and-forget after the next commit."""
        self._events.append((name, user_id, properties))
