"""The worker loads a job's timeline in a constant number of SQL statements, however many
items the project has (once per job, and once per task of a render split over the farm)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select

from rendercli.db.models import Asset, AssetText, AssetTitle
from rendercli.services.renders import execute, submit
from rendercli.services.unit_of_work import UnitOfWork
from tests.conftest import Account
from tests.orm import SessionFactory


@contextmanager
def statements(uow: UnitOfWork) -> Iterator[list[str]]:
    """Every statement the unit of work's connection runs meanwhile (opened first: the
    schema read of a new connection is not the load's)."""
    rows: Any = uow.rows
    sent: list[str] = []
    if not rows.postgres:
        rows.connection.set_trace_callback(sent.append)
        yield sent  # the load closes the connection when its unit of work ends
        return
    real = rows.connection

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def execute(self, sql: Any, *args: Any, **kwargs: Any) -> Any:
            sent.append(str(sql))
            return real.execute(sql, *args, **kwargs)

    rows.connection = Counting()
    yield sent


@pytest.mark.parametrize("count", [50, 500])
def test_the_worker_loads_a_timeline_in_at_most_five_statements(
        alice: Account, sessions: SessionFactory, count: int) -> None:
    alice.ok("project", "create", "film")
    alice.ok("title", "add", "film", "Card 1", "--duration", "1")
    user_id = json.loads(alice.ok("whoami", "--json").stdout)["id"]
    job = submit.submit(UnitOfWork(sessions.url), user_id, "film", submit.RenderRequest())
    with sessions() as session:  # the other items, each a title card with a caption
        first = session.scalars(select(Asset)).one()
        for n in range(2, count + 1):
            item = Asset(project_id=first.project_id, position=n, kind="title",
                         display_name=f"Card {n}", still_duration=1.0)
            item.title = AssetTitle(text=f"Card {n}")
            item.texts = [AssetText(position=1, text=f"caption {n}")]
            session.add(item)
        session.commit()
    uow = UnitOfWork(sessions.url)
    with statements(uow) as sent:
        items, settings = execute.load(job.id, uow)
    assert len(items) == count and [i.name for i in items[:2]] == ["Card 1", "Card 2"]
    assert sum(1 for i in items if i.texts) == count - 1
    assert (settings.preset, settings.fps) == ("720p", 30)
    assert 1 <= len(sent) <= 5, sent
