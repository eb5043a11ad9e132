"""What shell completion offers for PROJECT, ASSET and JOB: the user's own, by prefix.

Plain SQL over `uow.rows` (rendercli.db.rows), so on the embedded default a completion
never imports SQLAlchemy; ownership is the join on the project's owner (and row-level
security on PostgreSQL).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rendercli.services.unit_of_work import UnitOfWork

LIMIT = 100  # a shell shows no more than this usefully

_SQL = {
    "project": ("SELECT p.name AS value, 'project ' || p.id AS description FROM projects AS p "
                "WHERE p.owner_id = :user_id AND substr(p.name, 1, :n) = :prefix "
                "ORDER BY p.updated_at DESC LIMIT :limit"),
    "asset": ("SELECT a.id AS value, a.display_name || ' in ' || p.name AS description "
              "FROM assets AS a JOIN projects AS p ON p.id = a.project_id "
              "WHERE p.owner_id = :user_id AND substr(a.id, 1, :n) = :prefix "
              "ORDER BY a.created_at DESC LIMIT :limit"),
    "job": ("SELECT j.id AS value, j.status || ', ' || p.name AS description "
            "FROM render_jobs AS j JOIN projects AS p ON p.id = j.project_id "
            "WHERE j.owner_id = :user_id AND substr(j.id, 1, :n) = :prefix "
            "ORDER BY j.created_at DESC LIMIT :limit"),
}


_ITEMS_SQL = ("SELECT a.position, a.display_name, a.kind FROM assets AS a "
              "WHERE a.project_id = :project_id AND a.position IS NOT NULL "
              "AND a.project_id IN (SELECT id FROM projects WHERE owner_id = :user_id) "
              "AND substr(CAST(a.position AS TEXT), 1, :n) = :typed "
              "ORDER BY a.position LIMIT :limit")


def candidates(uow: UnitOfWork, user_id: str, kind: str, prefix: str) -> list[tuple[str, str]]:
    """(value, description) pairs of the user's projects (by name), assets or jobs (by id)
    starting with `prefix`, newest first. `kind` is "project", "asset" or "job".

    An asset is also taken as PROJECT:N (rendercli.services.items.find_item): a prefix
    with a colon offers that project's items as `PROJECT:N` with `N  name  kind`, and
    any other prefix offers the matching projects as `PROJECT:` before item ids."""
    if kind == "asset" and ":" in prefix:
        return _items_at(uow, user_id, prefix)
    sql = _SQL[kind]  # KeyError: not a kind we complete
    with uow:
        rows = uow.rows.all(sql, user_id=user_id, prefix=prefix, n=len(prefix), limit=LIMIT)
    found = [(str(r["value"]), str(r["description"])) for r in rows]
    if kind == "asset":
        projects = candidates(uow, user_id, "project", prefix)
        found = [(f"{name}:", "pick an item by position") for name, _ in projects] + found
    return found[:LIMIT]


def _items_at(uow: UnitOfWork, user_id: str, prefix: str) -> list[tuple[str, str]]:
    from rendercli.errors import NotFound
    from rendercli.repositories.projects import owned_project

    project_ref, typed = prefix.rsplit(":", 1)
    with uow:
        try:
            project = owned_project(uow.rows, user_id, project_ref)
        except NotFound:
            return []
        rows = uow.rows.all(_ITEMS_SQL, project_id=project.id, user_id=user_id, typed=typed,
                            n=len(typed), limit=LIMIT)
    from rendercli.services.items import one_line

    return [(f"{project_ref}:{r['position']}",
             f"{r['position']}  {one_line(str(r['display_name']), 40)}  {r['kind']}")
            for r in rows]
