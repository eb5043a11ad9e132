"""Analytics are fire-and-forget: a broken events table never fails a command."""

from __future__ import annotations

from sqlalchemy import select, text

from rendercli.db.models import AnalyticsEvent, Project, User
from rendercli.db.session import get_session_factory
from tests.conftest import Cli, make_account


def _events(url: str) -> list[tuple[str, str | None]]:
    with get_session_factory(url)() as session:
        return [(e.name, e.user_id) for e in session.scalars(select(AnalyticsEvent))]


def test_events_are_recorded(cli: Cli, database_url: str) -> None:
    account = make_account(cli, "a@example.com")
    account.ok("project", "create", "p")
    names = [name for name, _ in _events(database_url)]
    assert "user.registered" in names and "project.created" in names


def test_broken_events_table_never_fails_the_command(cli: Cli, database_url: str) -> None:
    account = make_account(cli, "a@example.com")
    with get_session_factory(database_url)() as session:
        session.execute(text("DROP TABLE analytics_events"))
        session.commit()
    result = account("project", "create", "still works")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    reg = cli("register", "--email", "b@example.com", "--password-stdin", input="password1\n")
    assert reg.exit_code == 0, reg.stderr
    with get_session_factory(database_url)() as session:
        assert session.scalars(select(Project.name)).all() == ["still works"]
        assert session.scalar(select(User).where(User.email == "b@example.com")) is not None
