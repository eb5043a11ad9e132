"""A unit of work: one database transaction that rolls back unless committed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rendercli.config import Settings
    from rendercli.db.rows import PgRows, Rows, SqliteRows
    from rendercli.db.session import SessionFactory


class UnitOfWork:
    """`with uow: ...; uow.commit()`. Leaving the block without commit rolls back.

    `session_factory` picks the database; by default it is the configured one
    (`rendercli.db.session.default_session_factory`, which also checks its schema).
    Analytics events noted with `record_event` are handed to `events.write_events`
    after a successful commit; the unit of work itself only holds them until then.

    The ORM session is opened on first use. `rows` runs plain SQL (rendercli.db.rows): on
    the configured database, before any session is opened, over a bare sqlite3 or
    psycopg connection, so the commands people run most never import SQLAlchemy;
    otherwise over the session's own connection, in the same transaction. Events noted
    in a unit of work that only used `rows` are written over that connection too.
    """

    def __init__(self, session_factory: SessionFactory | None = None, *,
                 settings: Settings | None = None, token: str | None = None) -> None:
        self._session_factory = session_factory
        self._settings = settings
        self._token = token
        self._events: list[tuple[str, str | None, dict[str, Any]]] = []
        self._session: Session | None = None
        self._light: SqliteRows | PgRows | None = None

    @property
    def settings(self) -> Settings:
        """The settings of the application this unit of work belongs to (read from the
        environment once, when it was made without an application)."""
        if self._settings is None:
            from rendercli.config import get_settings

            self._settings = get_settings()
        return self._settings

    @property
    def token(self) -> str | None:
        """The caller this unit of work acts for (PostgreSQL row-level security)."""
        if self._token is None:
            from rendercli.db import tenancy  # transition: the process-wide caller

            return tenancy.current_token()
        return self._token

    @property
    def session_factory(self) -> SessionFactory:
        if self._session_factory is None:
            from rendercli.db.session import get_session_factory

            self._session_factory = get_session_factory(self.settings.database_url)
        return self._session_factory

    @property
    def session(self) -> Session:
        """The ORM session of this unit of work (opened on first use)."""
        if self._session is None:
            if self._light is not None:
                raise RuntimeError("this unit of work already reads over plain SQL")
            self._session = self.session_factory()
            self._session.info["rendercli_token"] = self.token
        return self._session

    @property
    def rows(self) -> Rows:
        """Plain SQL in this unit of work's transaction (see the class docstring)."""
        from rendercli.db.rows import SessionRows

        if self._session is None and self._light is None and self._session_factory is None:
            from rendercli.db.rows import light_rows
            from rendercli.db.schema import HEAD_REVISION

            self._light = light_rows(self.settings.database_url, HEAD_REVISION, self.token)
        if self._light is not None:
            return self._light
        return SessionRows(self.session)

    def __enter__(self) -> Self:
        self._events = []
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._session is not None:
            self._session.rollback()
            self._session.close()
            self._session = None
        if self._light is not None:
            self._light.close()
            self._light = None

    def commit(self) -> None:
        if self._session is not None:
            self._session.commit()
        if self._light is not None:
            self._light.commit()
        events, self._events = self._events, []
        if events:
            from rendercli.repositories.events import write_events

            write_events(self.rows, events)

    def rollback(self) -> None:
        if self._session is not None:
            self._session.rollback()
        if self._light is not None:
            self._light.connection.rollback()

    def record_event(self, name: str, user_id: str | None, **properties: Any) -> None:
        """Note an analytics event, written fire-and-forget after the next commit."""
        self._events.append((name, user_id, properties))
