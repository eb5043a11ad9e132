"""The SQL of the spec use cases (apply, batch, export), over ``uow.rows``.

Kept together so they can move into rendercli.repositories (projects, items, jobs):
each function says which record kind it reads or writes. Ownership is in the WHERE
clause; column names in built statements are checked against the schema's known names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rendercli.db.clock import utcnow
from rendercli.db.rows import Rows, insert
from rendercli.db.statuses import ACTIVE_JOB_STATUSES

CHUNK = 500  # names or ids per IN (...) list


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


def insert_project(rows: Rows, user_id: str, project: ProjectRow) -> None:
    """projects: a new project (the model's defaults written out)."""
    now = utcnow()
    insert(rows, "projects", {"id": project.id, "owner_id": user_id, "name": project.name,
                              "created_at": now, "updated_at": now,
                              "spec_origin": project.spec_origin, "fit": project.fit})


def lock_project(rows: Rows, project_id: str) -> None:
    """projects: take the project's row lock (PostgreSQL) or the write lock (SQLite)
    before reading its items, so changes to one timeline serialise."""
    rows.run("UPDATE projects SET updated_at = :now WHERE id = :id", now=utcnow(),
             id=project_id)


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


def _columns() -> frozenset[str]:
    from rendercli.services.items import ASSET_COLUMNS

    return frozenset(ASSET_COLUMNS)


def insert_item(rows: Rows, values: Mapping[str, Any]) -> None:
    """assets: a new item (``values`` as the model's defaults would complete them)."""
    now = utcnow()
    defaults = {"rotation": 0, "has_audio": False, "transition": "none",
                "transition_seconds": 0.0, "fade_in": 0.0, "fade_out": 0.0, "volume": 1.0,
                "mute": False, "duck": False, "created_at": now, "updated_at": now}
    insert(rows, "assets", {**defaults, **values})


def update_item(rows: Rows, item_id: str, values: Mapping[str, Any]) -> None:
    """assets: set these columns of one item."""
    unknown = set(values) - _columns()
    if unknown or "id" in values:
        raise ValueError(f"not columns of an item: {sorted(unknown)}")
    if values:
        rows.run(f"UPDATE assets SET {', '.join(f'{c} = :{c}' for c in values)} "
                 "WHERE id = :item_id", item_id=item_id, **values)


def delete_item(rows: Rows, item_id: str) -> None:
    """assets: remove an item with its title card and texts."""
    rows.run("DELETE FROM asset_texts WHERE asset_id = :id", id=item_id)
    rows.run("DELETE FROM asset_titles WHERE asset_id = :id", id=item_id)
    rows.run("DELETE FROM assets WHERE id = :id", id=item_id)


def put_title(rows: Rows, item_id: str, card: Mapping[str, Any], *, exists: bool) -> None:
    """asset_titles: set (or make) a title item's card."""
    from rendercli.services.items import TITLE_COLUMNS

    if set(card) - set(TITLE_COLUMNS):
        raise ValueError(f"not columns of a title card: {sorted(set(card) - set(TITLE_COLUMNS))}")
    if exists:
        rows.run(f"UPDATE asset_titles SET {', '.join(f'{c} = :{c}' for c in card)} "
                 "WHERE asset_id = :asset_id", asset_id=item_id, **card)
    else:
        insert(rows, "asset_titles", {"asset_id": item_id, **card})


def replace_texts(rows: Rows, item_id: str, texts: Sequence[Mapping[str, Any]]) -> None:
    """asset_texts: an item's texts become ``texts`` (in drawing order)."""
    from rendercli.db.ids import new_id

    rows.run("DELETE FROM asset_texts WHERE asset_id = :id", id=item_id)
    for position, text in enumerate(texts, 1):
        insert(rows, "asset_texts", {"id": new_id(), "asset_id": item_id,
                                     "position": position, "created_at": utcnow(), **text})
