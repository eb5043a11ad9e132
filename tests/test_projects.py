"""Project commands, ownership and cascades, on both databases."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, text

from rendercli.db.models import Asset, AuthToken, Project, RenderJob, User
from tests.conftest import Account, Cli
from tests.orm import get_session_factory, job_in


def test_project_lifecycle(alice: Account) -> None:
    created = json.loads(alice.ok("project", "create", "  summer trip ", "--json").stdout)
    assert created["name"] == "summer trip" and created["asset_count"] == 0
    assert created["created_at"].endswith("Z")
    by_name = json.loads(alice.ok("project", "show", "summer trip", "--json").stdout)
    by_id = json.loads(alice.ok("project", "show", created["id"], "--json").stdout)
    assert by_name == by_id
    renamed = json.loads(alice.ok("project", "rename", created["id"], "summer 2026",
                                  "--json").stdout)
    assert renamed["name"] == "summer 2026" and renamed["updated_at"] > created["updated_at"]
    listed = json.loads(alice.ok("project", "list", "--json").stdout)
    assert [p["name"] for p in listed] == ["summer 2026"]
    alice.ok("project", "delete", "summer 2026", "--yes")
    assert json.loads(alice.ok("project", "list", "--json").stdout) == []


def test_piped_list_is_tab_separated(alice: Account) -> None:
    alice.ok("project", "create", "one")
    line = alice.ok("project", "list").stdout.splitlines()[0]
    fields = line.split("\t")
    assert fields[1] == "one" and fields[2] == "0" and fields[4].endswith("Z")


def test_name_taken_is_a_conflict(alice: Account, bob: Account) -> None:
    alice.ok("project", "create", "film")
    again = alice("project", "create", "film")
    assert again.exit_code == 5
    assert again.stderr == "error: you already have a project named 'film'\n"
    bob.ok("project", "create", "film")  # unique per owner only
    alice.ok("project", "create", "other")
    clash = alice("project", "rename", "other", "film")
    assert clash.exit_code == 5


@pytest.mark.parametrize("bad", ["", "   ", "x" * 201, "tab\there"])
def test_bad_names_are_rejected(alice: Account, bad: str) -> None:
    result = alice("project", "create", bad)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: project name") and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "command",
    [
        ["project", "show", "{ref}"],
        ["project", "rename", "{ref}", "stolen"],
        ["project", "delete", "{ref}", "--yes"],
    ],
)
def test_another_users_project_is_not_found(alice: Account, bob: Account, command) -> None:
    project = json.loads(alice.ok("project", "create", "secret", "--json").stdout)
    for ref in (project["id"], "secret"):
        theirs = bob(*[part.format(ref=ref) for part in command])
        missing = bob(*[part.format(ref="no-such-project") for part in command])
        assert theirs.exit_code == missing.exit_code == 3
        assert theirs.stderr == f"error: project not found: {ref}\n"
        assert missing.stderr == "error: project not found: no-such-project\n"
    assert json.loads(bob.ok("project", "list", "--json").stdout) == []
    # Alice's project is untouched.
    assert json.loads(alice.ok("project", "show", "secret", "--json").stdout) == project


def test_delete_refuses_without_yes_off_a_terminal(alice: Account) -> None:
    alice.ok("project", "create", "keep")
    result = alice("project", "delete", "keep")
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    alice.ok("project", "show", "keep")


def _count(url: str, model: type) -> int:
    with get_session_factory(url)() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _seed_asset_and_job(url: str, project_id: str) -> None:
    with get_session_factory(url)() as session:
        session.add(Asset(project_id=project_id, position=0, kind="image", display_name="a.png",
                          sha256="0" * 64, storage_key="0" * 64, size_bytes=1,
                          container="png"))
        session.add(job_in(session, project_id, status="completed", preset="720p",
                              format="mp4", fps=30, quality="standard"))
        session.commit()


def test_deleting_a_project_cascades(alice: Account, database_url: str) -> None:
    project = json.loads(alice.ok("project", "create", "p", "--json").stdout)
    _seed_asset_and_job(database_url, project["id"])
    assert _count(database_url, Asset) == 1 and _count(database_url, RenderJob) == 1
    alice.ok("project", "delete", "p", "--yes")
    assert _count(database_url, Asset) == 0 and _count(database_url, RenderJob) == 0


def test_deleting_a_user_cascades_in_the_database(
    alice: Account, bob: Account, database_url: str
) -> None:
    project = json.loads(alice.ok("project", "create", "p", "--json").stdout)
    bob.ok("project", "create", "q")
    _seed_asset_and_job(database_url, project["id"])
    # A plain SQL delete: the cascade must be the database's own, not the ORM's.
    with get_session_factory(database_url)() as session:
        session.execute(text("DELETE FROM users WHERE email = 'alice@example.com'"))
        session.commit()
    assert _count(database_url, Project) == 1  # bob's
    assert _count(database_url, Asset) == 0 and _count(database_url, RenderJob) == 0
    with get_session_factory(database_url)() as session:  # only bob's tokens are left
        owners = set(session.scalars(select(User.email).join(AuthToken)))
    assert owners == {"bob@example.com"}
    assert alice("project", "list").exit_code == 4


def test_not_logged_in_is_exit_4(cli: Cli, database_url: str) -> None:
    result = cli("project", "list")
    if database_url.startswith("sqlite"):  # no login needed: the local account
        assert (result.exit_code, result.stdout) == (0, "")
        return
    assert result.exit_code == 4
    assert result.stderr.startswith("error: not logged in")
