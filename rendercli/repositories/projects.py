"""Projects, in plain SQL: the one home of "is this the user's project?".

Ownership is the WHERE clause: another user's project is indistinguishable from a
missing one (NotFound either way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from rendercli.db.clock import utcnow
from rendercli.db.rows import Rows, as_datetime, in_lists, insert
from rendercli.db.statuses import ACTIVE_JOB_STATUSES
from rendercli.errors import NotFound
from rendercli.repositories import prefixes


class OwnedProject(NamedTuple):
    """The id and name of one of the caller's projects (`id, name = owned_project(...)`)."""

    id: str
    name: str


@dataclass
class ProjectRow:
    """A project as a spec apply reads or makes it (a batch's claim may set
    ``spec_origin``: which spec's batches made it)."""

    id: str
    name: str
    fit: str | None = None
    spec_origin: str | None = None


# The user's projects with their counts.
_PROJECTS_SQL = (
    "SELECT p.id, p.name, p.created_at, p.updated_at, p.fit, "
    "(SELECT count(*) FROM assets AS a WHERE a.project_id = p.id) AS asset_count, "
    "(SELECT count(*) FROM render_jobs AS j WHERE j.project_id = p.id) AS render_count "
    "FROM projects AS p WHERE p.owner_id = :user_id"
)
_ACTIVE_JOBS_SQL = ("SELECT project_id, id, status FROM render_jobs WHERE status IN "
                    f"({', '.join(repr(s) for s in ACTIVE_JOB_STATUSES)}) AND project_id IN ")


def owned_project(rows: Rows, user_id: str, ref: str) -> OwnedProject:
    """The user's project named `ref` (an id or an exact name), or NotFound. An id match
    wins over a project that happens to be named like another's id."""
    found = rows.one(
        "SELECT id, name FROM projects WHERE owner_id = :user_id AND (id = :ref OR name = :ref) "
        "ORDER BY CASE WHEN id = :ref THEN 0 ELSE 1 END, id", user_id=user_id, ref=ref)
    if found is None:
        whole = prefixes.full_id(rows, "project", user_id, ref)  # a unique id prefix
        found = None if whole == ref else rows.one(
            "SELECT id, name FROM projects WHERE owner_id = :user_id AND id = :id",
            user_id=user_id, id=whole)
    if found is None:
        raise NotFound(f"project not found: {ref}")
    return OwnedProject(found["id"], found["name"])


def owned_project_id(rows: Rows, user_id: str, ref: str) -> str:
    """The id of the user's project named `ref` (see `owned_project`)."""
    return owned_project(rows, user_id, ref).id


def projects_named(rows: Rows, user_id: str, names: Sequence[str]) -> dict[str, ProjectRow]:
    """The user's projects with exactly these names (a spec names its project by name
    only), by name."""
    found: dict[str, ProjectRow] = {}
    for listed, params in in_lists(names):
        for row in rows.all("SELECT id, name, fit, spec_origin FROM projects WHERE "
                            f"owner_id = :user_id AND name IN {listed}", user_id=user_id,
                            **params):
            found[row["name"]] = ProjectRow(**row)
    return found


def projects_of(rows: Rows, user_id: str, project_id: str | None = None
                ) -> list[dict[str, Any]]:
    """The user's projects (or the one with `project_id`) with their asset and render
    counts, most recently updated first; timestamps as aware UTC datetimes."""
    sql, params = _PROJECTS_SQL, {"user_id": user_id, "id": project_id}
    if project_id is not None:
        sql += " AND p.id = :id"
    found = rows.all(sql + " ORDER BY p.updated_at DESC, p.name", **params)
    for row in found:
        row["created_at"] = as_datetime(row["created_at"])
        row["updated_at"] = as_datetime(row["updated_at"])
    return found


def active_jobs(rows: Rows, project_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The id and status of the queued or processing job of each of these projects
    that has one, by project id."""
    found: dict[str, dict[str, Any]] = {}
    for listed, params in in_lists(project_ids):
        for row in rows.all(_ACTIVE_JOBS_SQL + listed, **params):
            found.setdefault(row.pop("project_id"), row)
    return found


def active_job(rows: Rows, project_id: str) -> dict[str, Any] | None:
    """`active_jobs` of one project."""
    return active_jobs(rows, [project_id]).get(project_id)


def insert_project(rows: Rows, owner_id: str, project: ProjectRow) -> None:
    """A new project (over `Inserts`: when it flushes). A name the owner already uses
    breaks the unique constraint (the caller says so)."""
    now = utcnow()
    insert(rows, "projects", {"id": project.id, "owner_id": owner_id, "name": project.name,
                              "created_at": now, "updated_at": now,
                              "spec_origin": project.spec_origin, "fit": project.fit})


def update_project(rows: Rows, project_id: str, **values: Any) -> None:
    """Set `name`, `fit` or `spec_origin` of a project (and its updated_at)."""
    if not values or not set(values) <= {"name", "fit", "spec_origin"}:
        raise ValueError(f"not a project column to change: {sorted(values)}")
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    rows.run(f"UPDATE projects SET {assignments}, updated_at = :now WHERE id = :id",
             now=utcnow(), id=project_id, **values)


def files_of(rows: Rows, project_id: str) -> tuple[list[str], list[str]]:
    """The ids of the project's render jobs and the stored objects its items use."""
    jobs = rows.all("SELECT id FROM render_jobs WHERE project_id = :id", id=project_id)
    keys = rows.all("SELECT storage_key FROM assets WHERE project_id = :id "
                    "AND storage_key IS NOT NULL", id=project_id)  # titles have none
    return [r["id"] for r in jobs], [r["storage_key"] for r in keys]


def delete_project(rows: Rows, project_id: str) -> None:
    """Delete a project; its items, jobs and tasks go with it (ON DELETE CASCADE)."""
    rows.run("DELETE FROM projects WHERE id = :id", id=project_id)


def render_history(rows: Rows, user_id: str) -> list[dict[str, Any]]:
    """Every render job of the user's projects (status, started_at, finished_at,
    output_duration) with its project's id and name, for statistics."""
    found = rows.all(
        "SELECT j.status, j.started_at, j.finished_at, j.output_duration, "
        "p.id AS project_id, p.name AS project_name FROM render_jobs AS j "
        "JOIN projects AS p ON p.id = j.project_id WHERE j.owner_id = :user_id",
        user_id=user_id)
    for row in found:
        row["started_at"] = as_datetime(row["started_at"])
        row["finished_at"] = as_datetime(row["finished_at"])
    return found
