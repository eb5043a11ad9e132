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


def candidates(uow: UnitOfWork, user_id: str, kind: str, prefix: str) -> list[tuple[str, str]]:
    """(value, description) pairs of the user's projects (by name), assets or jobs (by id)
    starting with `prefix`, newest first. `kind` is "project", "asset" or "job"."""
    sql = _SQL[kind]  # KeyError: not a kind we complete
    with uow:
        rows = uow.rows.all(sql, user_id=user_id, prefix=prefix, n=len(prefix), limit=LIMIT)
    return [(str(r["value"]), str(r["description"])) for r in rows]
