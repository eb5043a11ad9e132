"""A unit of work: one database transaction that rolls back unless committed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

_checked_urls: set[str] = set()


class UnitOfWork:
    """`with uow: ...; uow.commit()`. Leaving the block without commit rolls back.

    Analytics events queued with `record_event` are written only after a successful
    commit, in their own transaction, and a failure there never reaches the caller.
    """

    session: Session

    def __init__(self, database_url: str | None = None) -> None:
        if database_url is None:
            from rendercli.config import get_settings

            database_url = get_settings().database_url
        self.database_url = database_url
        self._events: list[tuple[str, str | None, dict[str, Any]]] = []

    def _factory(self) -> sessionmaker[Session]:
        from rendercli.db.engine import get_engine, get_session_factory

        if self.database_url not in _checked_urls:
            from rendercli.db.schema import ensure_current

            ensure_current(get_engine(self.database_url))
            _checked_urls.add(self.database_url)
        return get_session_factory(self.database_url)

    def __enter__(self) -> Self:
        self.session = self._factory()()
        self._events = []
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        self.session.commit()
        events, self._events = self._events, []
        if events:
            from rendercli.services.analytics import write_events

            write_events(self.database_url, events)

    def rollback(self) -> None:
        self.session.rollback()

    def record_event(self, name: str, user_id: str | None, **properties: Any) -> None:
        """Queue an analytics event, written fire-and-forget after the next commit."""
        self._events.append((name, user_id, properties))


def forget_schema_checks() -> None:
    """Re-check schema versions on next use (tests that swap databases)."""
    _checked_urls.clear()
