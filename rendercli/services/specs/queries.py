"""The SQL of the spec use cases (apply, batch), over ``uow.rows``: to move into
rendercli.repositories (each function says which record kind it reads or writes).
New rows go through :class:`Inserts`, so a batch's are a few multi-row INSERTs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rendercli.db.clock import utcnow
from rendercli.db.ids import new_id
from rendercli.db.rows import Rows
from rendercli.db.statuses import ACTIVE_JOB_STATUSES
from rendercli.repositories.items import (
    ASSET_COLUMNS,
    TITLE_COLUMNS,
    ItemRow,
    new_item,
    read_items_of,
)

_NAME = re.compile(r"[a-z_][a-z0-9_]*")
CHUNK = 500  # names or ids per IN (...) list
MAX_PARAMS = 30_000  # per statement: PostgreSQL takes 65,535, SQLite (3.32+) 32,766


@dataclass
class ProjectRow:
    """A project as apply changes it (a claim may set ``spec_origin``)."""

    id: str
    name: str
    fit: str | None = None
    spec_origin: str | None = None


_PROJECT_SQL = "SELECT id, name, fit, spec_origin FROM projects WHERE owner_id = :user_id"


def _in_lists(values: Sequence[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(:v0, :v1, ...)`` and its parameters, CHUNK values at a time."""
    for start in range(0, len(values), CHUNK):
        params = {f"v{k}": value for k, value in enumerate(values[start:start + CHUNK])}
        yield "(" + ", ".join(":" + name for name in params) + ")", params


def insert_many(rows: Rows, table: str, values: Sequence[Mapping[str, Any]]) -> None:
    """INSERT rows of ``table`` (names written in our code), as few statements as the
    parameter limit allows: a batch of 10,000 rows is not 10,000 round trips."""
    by_columns: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in values:
        by_columns.setdefault(tuple(row), []).append(row)
    for names, group in by_columns.items():
        if not _NAME.fullmatch(table) or not all(_NAME.fullmatch(n) for n in names):
            raise ValueError(f"not a table or column name: {table} {names}")
        per = max(1, MAX_PARAMS // len(names))
        for start in range(0, len(group), per):
            params: dict[str, Any] = {}
            tuples = []
            for k, row in enumerate(group[start:start + per]):
                params.update((f"r{k}_{n}", row[n]) for n in names)
                tuples.append("(" + ", ".join(f":r{k}_{n}" for n in names) + ")")
            rows.run(f"INSERT INTO {table} ({', '.join(names)}) VALUES {', '.join(tuples)}",
                     **params)


class Inserts:
    """New rows held back and written together (``flush``), parents before children."""

    ORDER = ("projects", "assets", "asset_titles", "asset_texts", "render_jobs")

    def __init__(self, rows: Rows) -> None:
        self.rows = rows
        self.pending: dict[str, list[Mapping[str, Any]]] = {}

    def add(self, table: str, values: Mapping[str, Any]) -> None:
        self.pending.setdefault(table, []).append(values)

    def flush(self) -> None:
        for table in self.ORDER:
            insert_many(self.rows, table, self.pending.pop(table, []))
        assert not self.pending, self.pending


# ---------------------------------------------------------------- projects


def project_named(rows: Rows, user_id: str, name: str) -> ProjectRow | None:
    """projects: the user's project with exactly this name (a spec names its project by
    name only), if any."""
    return projects_named(rows, user_id, [name]).get(name)


def projects_named(rows: Rows, user_id: str, names: Sequence[str]) -> dict[str, ProjectRow]:
    """projects: the user's projects with these names, by name."""
    found: dict[str, ProjectRow] = {}
    for listed, params in _in_lists(names):
        for row in rows.all(_PROJECT_SQL + f" AND name IN {listed}", user_id=user_id,
                            **params):
            found[row["name"]] = ProjectRow(**row)
    return found


def insert_project(new: Inserts, user_id: str, project: ProjectRow) -> None:
    """projects: a new project (the model's defaults written out)."""
    now = utcnow()
    new.add("projects", {"id": project.id, "owner_id": user_id, "name": project.name,
                              "created_at": now, "updated_at": now,
                              "spec_origin": project.spec_origin, "fit": project.fit})


def lock_projects(rows: Rows, project_ids: Sequence[str]) -> None:
    """projects: ``lock_project`` for many (one statement per CHUNK)."""
    for listed, params in _in_lists(project_ids):
        rows.run(f"UPDATE projects SET updated_at = :now WHERE id IN {listed}", now=utcnow(),
                 **params)


def set_spec_origin(rows: Rows, project_id: str, origin: str | None) -> None:
    """projects: record which spec's batches made the project."""
    rows.run("UPDATE projects SET spec_origin = :origin WHERE id = :id", origin=origin,
             id=project_id)


# ---------------------------------------------------------------- jobs


def rendering_projects(rows: Rows, project_ids: Sequence[str]) -> list[str]:
    """render_jobs: which of these projects have a queued or processing job."""
    found: list[str] = []
    for listed, params in _in_lists(project_ids):
        found += [row["project_id"] for row in rows.all(
            "SELECT DISTINCT project_id FROM render_jobs WHERE status IN "
            f"({', '.join(repr(s) for s in ACTIVE_JOB_STATUSES)}) AND project_id IN {listed}",
            **params)]
    return found


# ---------------------------------------------------------------- items


def stored_content(rows: Rows, user_id: str, sha256: str) -> tuple[int, str] | None:
    """assets: the size and name of content with this SHA-256 in the user's projects."""
    found = rows.one("SELECT a.size_bytes, a.display_name FROM assets AS a JOIN projects "
                     "AS p ON p.id = a.project_id WHERE p.owner_id = :user_id AND "
                     "a.sha256 = :sha LIMIT 1", user_id=user_id, sha=sha256)
    if found is None or found["size_bytes"] is None:
        return None
    return int(found["size_bytes"]), str(found["display_name"])


def insert_item(new: Inserts, values: Mapping[str, Any]) -> None:
    """assets: a new item, ``values`` over the schema's defaults (``new_item``)."""
    item = new_item(values)
    new.add("assets", {name: getattr(item, name) for name in ASSET_COLUMNS})


def update_item(rows: Rows, item_id: str, values: Mapping[str, Any]) -> None:
    """assets: set these columns of one item."""
    unknown = set(values) - set(ASSET_COLUMNS)
    if unknown or "id" in values:
        raise ValueError(f"not columns of an item: {sorted(unknown)}")
    if values:
        rows.run(f"UPDATE assets SET {', '.join(f'{c} = :{c}' for c in values)} "
                 "WHERE id = :item_id", item_id=item_id, **values)


def put_title(new: Inserts, item_id: str, card: Mapping[str, Any], *, exists: bool) -> None:
    """asset_titles: set (or make) a title item's card."""
    if set(card) - set(TITLE_COLUMNS):
        raise ValueError(f"not columns of a title card: {sorted(card)}")
    if exists:
        new.rows.run(f"UPDATE asset_titles SET {', '.join(f'{c} = :{c}' for c in card)} "
                     "WHERE asset_id = :asset_id", asset_id=item_id, **card)
    else:
        new.add("asset_titles", {"asset_id": item_id, **card})


def replace_texts(new: Inserts, item_id: str, texts: Sequence[Mapping[str, Any]], *,
                  had: bool = True) -> None:
    """asset_texts: an item's texts become ``texts``, in drawing order (``had``: it
    may have some)."""
    if had:
        new.rows.run("DELETE FROM asset_texts WHERE asset_id = :id", id=item_id)
    for position, text in enumerate(texts, 1):
        new.add("asset_texts", {"id": new_id(), "asset_id": item_id, "position": position,
                                "created_at": utcnow(), **text})


def items_of(rows: Rows, project_ids: Sequence[str]) -> dict[str, list[ItemRow]]:
    """items: ``read_items_of`` CHUNK projects at a time (a batch may hold 10,000)."""
    found: dict[str, list[ItemRow]] = {}
    for start in range(0, len(project_ids), CHUNK):
        found.update(read_items_of(rows, project_ids[start:start + CHUNK]))
    return found
