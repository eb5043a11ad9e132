"""Analytics are fire-and-forget: a broken events table never fails a command."""

from __future__ import annotations

import json

from sqlalchemy import select, text

from rendercli.db.models import AnalyticsEvent, Project, User
from tests.conftest import Cli, make_account
from tests.orm import get_session_factory


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


def test_a_units_events_are_written_in_multi_row_inserts(sessions) -> None:  # type: ignore[no-untyped-def]
    """A batch of 10,000 rows records thousands of events: they go in as few INSERTs as
    the parameter limit allows (2 here), not one statement each."""
    from rendercli.repositories.events import write_events
    from rendercli.services.unit_of_work import UnitOfWork

    class Counted:
        def __init__(self, rows) -> None:  # type: ignore[no-untyped-def]
            self.rows, self.postgres, self.inserts = rows, rows.postgres, 0

        def run(self, sql: str, **params: object) -> int:
            self.inserts += sql.startswith("INSERT")
            return self.rows.run(sql, **params)

    with UnitOfWork(sessions.url) as uow:
        counted = Counted(uow.rows)
        write_events(counted, [("batch.row", None, {"n": n}) for n in range(10_000)])  # type: ignore[arg-type]
        assert counted.inserts == 2
        found = uow.rows.all("SELECT properties FROM analytics_events WHERE name = 'batch.row'")
        values = [r["properties"] for r in found]  # JSON: text on SQLite
        values = [json.loads(v) if isinstance(v, str) else v for v in values]
        assert sorted(v["n"] for v in values) == list(range(10_000))
