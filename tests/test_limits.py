"""Every length and count has an upper bound (issue 19): checked when a user, a spec file or
a data row gives it, and again when a render reads the rows, because a raw-SQL client can
write any number into a row. A bound broken in the database fails that job with the
reason; nothing is planned or allocated from it."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import psycopg
import pytest

from rendercli.render.timeline import TitleCard, plan_timeline, title_item
from rendercli.services.unit_of_work import UnitOfWork
from tests.conftest import Account
from tests.farm import Farm
from tests.test_tenancy import libpq

# The documented bounds (README, "What is accepted").
MAX_TEXTS_PER_ITEM = 100
MAX_SEGMENTS = 10_000
LIMIT_MESSAGE = "over the limit of 14400 s (RENDERCLI_MAX_DURATION)"


def as_client(database_url: str, account: Account, sql: str, params: tuple = ()) -> None:
    """One statement as a hostile client would send it: raw SQL with the account's own
    token (the client role on PostgreSQL), or straight into the SQLite file."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            conn.execute(sql.replace("%s", "?"), params)
        return
    with psycopg.connect(libpq(os.environ["RENDERCLI_DATABASE_URL"])) as conn:
        conn.execute("SELECT set_config('rendercli.token', %s, true)", (account.token,))
        assert conn.execute(sql, params).rowcount == 1


def title_id(account: Account, project: str) -> str:
    items = json.loads(account.ok("asset", "list", project, "--json").stdout)["assets"]
    return next(item["id"] for item in items if item["kind"] == "title")


def test_huge_lengths_from_the_command_line_are_refused(alice: Account) -> None:
    alice.ok("project", "create", "film")
    result = alice("title", "add", "film", "Hello", "--duration", "1e9")
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith("error: ") and LIMIT_MESSAGE in result.stderr
    assert result.stderr.count("\n") == 1
    alice.ok("title", "add", "film", "Hello", "--duration", "14400")  # the limit itself
    title = title_id(alice, "film")
    result = alice("text", "add", title, "caption", "--for", "1e9")
    assert result.exit_code == 2 and "text 1: duration" in result.stderr
    assert LIMIT_MESSAGE in result.stderr
    # Together the items may not pass the limit either (the rendered timeline's length).
    result = alice("title", "add", "film", "Again", "--duration", "10")
    assert result.exit_code == 2 and "last 14410 s together" in result.stderr
    listed = alice.ok("asset", "list", "film", "--json").stdout
    assert listed.count('"kind": "title"') == 1  # nothing of the refused changes was kept


def test_a_spec_file_with_a_huge_length_is_refused(alice: Account, tmp_path: Path) -> None:
    spec = tmp_path / "video.yaml"
    spec.write_text("version: 1\nproject: film\ntimeline:\n"
                    "  - title: Hello\n    duration: 1000000000\n", encoding="utf-8")
    result = alice("apply", str(spec))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert LIMIT_MESSAGE in result.stderr
    assert alice("project", "show", "film").exit_code == 3  # nothing was made


def test_a_length_written_into_the_database_fails_the_render_with_the_reason(
        farm: Farm, database_url: str, alice: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's attack: a client writes a huge duration into its own row with raw SQL
    after submitting. The worker reading the row fails the job at once with the reason;
    the old code planned one entry per chunk (1e9 s: a worker at 16 GB in 90 s)."""
    from rendercli.services.renders.execute import execute

    monkeypatch.setenv("RENDERCLI_JOB_TIMEOUT", "10")  # old code: a render, cut short
    alice.ok("project", "create", "film")
    alice.ok("title", "add", "film", "Hello", "--duration", "1")
    job_id = json.loads(alice.ok("render", "submit", "film", "--json").stdout)["id"]
    as_client(database_url, alice, "UPDATE assets SET still_duration = %s WHERE id = %s",
              (50000.0, title_id(alice, "film")))
    worker_url = os.environ.get("RENDERCLI_WORKER_DATABASE_URL", database_url)
    started = time.monotonic()
    view = execute(job_id, worker_name="w1", uow=UnitOfWork(worker_url))
    assert view is not None and view.status == "failed"
    assert view.error is not None and "duration is 50000 s" in view.error
    assert LIMIT_MESSAGE in view.error
    assert time.monotonic() - started < 8
    shown = alice.ok("jobs", "status", job_id).stdout
    assert "RENDERCLI_MAX_DURATION" in shown


def test_too_many_texts_written_into_the_database_are_refused(
        database_url: str, alice: Account) -> None:
    alice.ok("project", "create", "film")
    alice.ok("title", "add", "film", "Hello", "--duration", "2")
    title = title_id(alice, "film")
    for n in range(MAX_TEXTS_PER_ITEM + 1):
        as_client(database_url, alice,
                  "INSERT INTO asset_texts (id, asset_id, position, text, start, placement, "
                  "size, color, box, created_at) VALUES (%s, %s, %s, 'x', 0, 'center', "
                  "'small', 'white', false, CURRENT_TIMESTAMP)", (f"t{n}", title, n + 1))
    result = alice("render", "submit", "film")
    assert result.exit_code == 2
    assert f"{MAX_TEXTS_PER_ITEM + 1} texts; at most {MAX_TEXTS_PER_ITEM}" in result.stderr


def test_a_plan_has_a_bounded_number_of_segments_however_small_the_chunks() -> None:
    """RENDERCLI_CHUNK_SECONDS (or a row) cannot make the plan hold one entry per frame."""
    item = title_item(TitleCard(text="x"), 2 * 3600.0)
    plan = plan_timeline([item], 30, chunk_frames=1)
    assert plan.total_frames == 2 * 3600 * 30
    assert MAX_SEGMENTS // 2 < len(plan.segments) <= MAX_SEGMENTS
    assert sum(s.frames for s in plan.segments) == plan.total_frames


def test_a_huge_text_written_into_the_database_is_never_read_whole(
        database_url: str, alice: Account, sessions) -> None:  # type: ignore[no-untyped-def]
    """A client may write any amount into its own row by hand; whoever reads the timeline
    (a worker, or the inline render) reads a bounded prefix, and the render is refused as
    too long instead of holding the whole value."""
    from rendercli.repositories.items import MAX_READ_CHARS, read_items
    from rendercli.services.unit_of_work import UnitOfWork

    alice.ok("project", "create", "film")
    alice.ok("title", "add", "film", "Hello", "--duration", "2")
    title = title_id(alice, "film")
    huge = "x" * 3_000_000
    as_client(database_url, alice, "UPDATE asset_titles SET text = %s WHERE asset_id = %s",
              (huge, title))
    as_client(database_url, alice,
              "INSERT INTO asset_texts (id, asset_id, position, text, start, placement, "
              "size, color, box, created_at) VALUES ('t1', %s, 1, %s, 0, 'center', "
              "'small', 'white', false, CURRENT_TIMESTAMP)", (title, huge))
    project = json.loads(alice.ok("project", "list", "--json").stdout)[0]["id"]
    with UnitOfWork(sessions.url) as uow:
        (item,) = read_items(uow.rows, project)
    assert len(item.title.text) == MAX_READ_CHARS + 1
    assert len(item.texts[0].text) == MAX_READ_CHARS + 1
    result = alice("render", "submit", "film")
    assert result.exit_code == 2, result.stderr
    assert "characters" in result.stderr
