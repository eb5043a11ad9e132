"""A unit of work: one database transaction that rolls back unless committed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rendercli.db.session import SessionFactory


class UnitOfWork:
    """`with uow: ...; uow.commit()`. Leaving the block without commit rolls back.

    `session_factory` picks the database; by default it is the configured one
    (`rendercli.db.session.default_session_factory`, which also checks its schema).
    Analytics events noted with `record_event` are handed to `analytics.write_events`
    after a successful commit; the unit of work itself only holds them until then.
    """

    session: Session

    def __init__(self, session_factory: SessionFactory | None = None) -> None:
        self._session_factory = session_factory
        self._events: list[tuple[str, str | None, dict[str, Any]]] = []

    @property
    def session_factory(self) -> SessionFactory:
        if self._session_factory is None:
            from rendercli.db.session import default_session_factory

            self._session_factory = default_session_factory()
        return self._session_factory

    def __enter__(self) -> Self:
        self.session = self.session_factory()
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

            write_events(self.session_factory, events)

    def rollback(self) -> None:
        self.session.rollback()

    def record_event(self, name: str, user_id: str | None, **properties: Any) -> None:
        """Note an analytics event, written fire-and-forget after the next commit."""
        self._events.append((name, user_id, properties))
