"""Ids as people type them: a unique prefix of one of your ids stands for it (tables on a
narrow terminal show ids so), on both databases; an ambiguous prefix names the
candidates; another user's ids are never matched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_a_unique_prefix_works_wherever_an_id_does(alice, bob, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Projects, items, texts, jobs and tokens by a prefix of their id; another user's
    prefix is "not found", as their ids are."""
    from tests.media_factory import make_image

    project = json.loads(alice.ok("project", "create", "p", "--json").stdout)["id"]
    item = json.loads(alice.ok("asset", "add", "p", str(make_image(tmp_path / "s.png")),
                               "--duration", "0.5", "--json").stdout)[0]["id"]
    text = json.loads(alice.ok("text", "add", item[:6], "hello", "--json").stdout)["id"]
    job = json.loads(alice.ok("render", "submit", project[:5], "--preset", "480p", "--fps",
                              "10", "--json").stdout)["id"]
    token = json.loads(alice.ok("token", "create", "--name", "spare", "--json").stdout)["id"]

    assert json.loads(alice.ok("asset", "show", item[:7], "--json").stdout)["id"] == item
    assert json.loads(alice.ok("jobs", "status", job[:7], "--json").stdout)["id"] == job
    assert json.loads(alice.ok("text", "remove", text[:7], "--json").stdout)["id"] == text
    revoked = json.loads(alice.ok("token", "revoke", token[:7], "--json").stdout)
    assert revoked["id"] == token and revoked["revoked_at"]
    for args, what in ((("project", "show", project[:7]), "project"),
                       (("asset", "show", item[:7]), "asset"),
                       (("jobs", "status", job[:7]), "job")):
        foreign = bob(*args)
        assert foreign.exit_code == 3, (args, foreign.stdout)
        assert f"{what} not found: " in foreign.stderr and item not in foreign.stderr


def test_an_ambiguous_prefix_names_the_candidates(database_url: str) -> None:
    from rendercli.errors import InvalidInput
    from rendercli.repositories import prefixes
    from rendercli.services import accounts
    from rendercli.services.unit_of_work import UnitOfWork

    user = accounts.register(UnitOfWork(), "p@example.com", "password1")
    session = accounts.login(UnitOfWork(), "p@example.com", "password1", session_name="t")
    uow = UnitOfWork(token=session.token)  # as the user (row security on PostgreSQL)
    with uow:
        now = "2026-01-01 00:00:00"
        for pid, name in (("abcdaaaaaaaaaaaaaaaaaaaa", "one"), ("abcdbbbbbbbbbbbbbbbbbbbb", "two")):
            uow.rows.run("INSERT INTO projects (id, owner_id, name, created_at, updated_at) "
                         "VALUES (:id, :owner, :name, :now, :now)", id=pid, owner=user.id,
                         name=name, now=now)
        uow.commit()
    with uow:
        assert prefixes.full_id(uow.rows, "project", user.id, "abcda") == "abcdaaaaaaaaaaaaaaaaaaaa"
        assert prefixes.full_id(uow.rows, "project", user.id, "abc") == "abc"  # too short
        assert prefixes.full_id(uow.rows, "project", user.id, "zzzz") == "zzzz"  # not found
        with pytest.raises(InvalidInput) as ambiguous:
            prefixes.full_id(uow.rows, "project", user.id, "abcd")
    message = ambiguous.value.message
    assert "abcdaaaaaaaaaaaaaaaaaaaa" in message and "abcdbbbbbbbbbbbbbbbbbbbb" in message
    assert "\n" not in message
