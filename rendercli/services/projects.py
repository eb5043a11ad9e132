"""Projects: owned by a user; another user's project is indistinguishable from a missing one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rendercli.db.clock import utcnow
from rendercli.db.rows import Rows, as_datetime
from rendercli.db.statuses import ACTIVE_JOB_STATUSES
from rendercli.errors import Conflict, InvalidInput, NotFound
from rendercli.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:  # the ORM loads only in the functions that change rows
    from rendercli.db.models import Project

MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class ProjectView:
    id: str
    name: str
    asset_count: int
    render_count: int
    created_at: datetime
    updated_at: datetime
    fit: str = "contain"  # how clips and stills without a fit of their own meet the frame


def validate_name(name: str) -> str:
    """A project name: trimmed, 1-200 printable characters."""
    name = name.strip()
    if not name:
        raise InvalidInput("project name must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"project name is longer than {MAX_NAME_LENGTH} characters")
    if any(not ch.isprintable() for ch in name):
        raise InvalidInput("project name must not contain control characters")
    return name


# The user's projects with their counts: ownership is the WHERE clause.
PROJECTS_SQL = (
    "SELECT p.id, p.name, p.created_at, p.updated_at, p.fit, "
    "(SELECT count(*) FROM assets AS a WHERE a.project_id = p.id) AS asset_count, "
    "(SELECT count(*) FROM render_jobs AS j WHERE j.project_id = p.id) AS render_count "
    "FROM projects AS p WHERE p.owner_id = :user_id"
)


def owned_project(rows: Rows, user_id: str, ref: str) -> tuple[str, str]:
    """The id and name of the user's project named `ref` (an id or an exact name), or
    NotFound. An id match wins over a project that happens to be named like another's id."""
    found = rows.all(
        "SELECT id, name FROM projects WHERE owner_id = :user_id AND (id = :ref OR name = :ref) "
        "ORDER BY CASE WHEN id = :ref THEN 0 ELSE 1 END, id", user_id=user_id, ref=ref)
    if not found:
        raise NotFound(f"project not found: {ref}")
    return found[0]["id"], found[0]["name"]


def owned_project_id(rows: Rows, user_id: str, ref: str) -> str:
    """The id of the user's project named `ref` (see `owned_project`)."""
    return owned_project(rows, user_id, ref)[0]


def find_owned(uow: UnitOfWork, user_id: str, ref: str) -> Project:
    """The user's project by id or exact name, as an ORM row to change."""
    from rendercli.db.models import Project

    session = uow.session  # this transaction's rows, for the change that follows
    project = session.get(Project, owned_project_id(uow.rows, user_id, ref))
    if project is None:
        raise NotFound(f"project not found: {ref}")
    return project


def _view_of(row: Mapping[str, Any]) -> ProjectView:
    return ProjectView(
        id=row["id"],
        name=row["name"],
        asset_count=int(row["asset_count"] or 0),
        render_count=int(row["render_count"] or 0),
        created_at=as_datetime(row["created_at"]),  # type: ignore[arg-type]
        updated_at=as_datetime(row["updated_at"]),  # type: ignore[arg-type]
        fit=row["fit"] or "contain",
    )


def _view(uow: UnitOfWork, project: Project) -> ProjectView:
    uow.session.flush()
    [row] = uow.rows.all(PROJECTS_SQL + " AND p.id = :id", user_id=project.owner_id,
                         id=project.id)
    return _view_of(row)


ACTIVE_JOB_SQL = ("SELECT id, status FROM render_jobs WHERE project_id = :project_id AND "
                  f"status IN ({', '.join(repr(s) for s in ACTIVE_JOB_STATUSES)}) LIMIT 1")


def active_job_row(rows: Rows, project_id: str) -> dict[str, Any] | None:
    """The id and status of the project's queued or processing job, if any (plain SQL)."""
    found = rows.all(ACTIVE_JOB_SQL, project_id=project_id)
    return found[0] if found else None


def ensure_not_rendering(uow: UnitOfWork, project: Project, action: str) -> None:
    """Raise Conflict if the project has a queued or processing render."""
    active = active_job_row(uow.rows, project.id)
    if active is not None:
        raise Conflict(
            f"cannot {action} while project {project.name!r} is rendering ({active['id']}, "
            f"{active['status']}): wait for it, or `rendercli jobs cancel {active['id']}`"
        )


def _name_taken(name: str) -> Conflict:
    return Conflict(f"you already have a project named {name!r}")


def _fit(fit: str | None) -> str | None:
    """A project's default fit as stored (None: contain); raises InvalidInput."""
    from rendercli.render.timeline import DEFAULT_FIT, parse_fit

    if fit is None:
        return None
    fit = parse_fit(fit)
    return None if fit == DEFAULT_FIT else fit


def create(uow: UnitOfWork, user_id: str, name: str, fit: str | None = None) -> ProjectView:
    """Create a project (``fit``: its clips' and stills' default fit, contain unless
    given). Raises Conflict if the user already has one with that name."""
    from sqlalchemy.exc import IntegrityError

    from rendercli.db.models import Project

    name = validate_name(name)
    stored_fit = _fit(fit)
    with uow:
        project = Project(owner_id=user_id, name=name, fit=stored_fit)
        uow.session.add(project)
        try:
            uow.session.flush()
        except IntegrityError:
            raise _name_taken(name) from None
        uow.record_event("project.created", user_id, project_id=project.id)
        view = _view(uow, project)
        uow.commit()
        return view


def list_projects(uow: UnitOfWork, user_id: str) -> list[ProjectView]:
    """The user's projects, most recently updated first."""
    with uow:
        found = uow.rows.all(PROJECTS_SQL + " ORDER BY p.updated_at DESC, p.name",
                             user_id=user_id)
        return [_view_of(row) for row in found]


def get(uow: UnitOfWork, user_id: str, ref: str) -> ProjectView:
    """One of the user's projects by id or name."""
    with uow:
        return _view(uow, find_owned(uow, user_id, ref))


def rename(uow: UnitOfWork, user_id: str, ref: str, new_name: str) -> ProjectView:
    """Rename a project. Raises Conflict if the new name is taken."""
    from sqlalchemy.exc import IntegrityError

    new_name = validate_name(new_name)
    with uow:
        project = find_owned(uow, user_id, ref)
        project.name = new_name
        project.updated_at = utcnow()
        try:
            uow.session.flush()
        except IntegrityError:
            raise _name_taken(new_name) from None
        view = _view(uow, project)
        uow.commit()
        return view


def set_fit(uow: UnitOfWork, user_id: str, ref: str, fit: str) -> ProjectView:
    """Set how the project's clips and stills meet the frame unless an item says
    (contain, cover, blur; contain-blur is blur). Raises InvalidInput, NotFound."""
    stored = _fit(fit)
    with uow:
        project = find_owned(uow, user_id, ref)
        project.fit = stored
        project.updated_at = utcnow()
        view = _view(uow, project)
        uow.commit()
        return view


def delete(uow: UnitOfWork, user_id: str, ref: str) -> ProjectView:
    """Delete a project with its assets and render history (database cascade), then the
    files nothing else uses. A job id or storage key that is not well formed (a tampered
    row) refuses the whole delete before anything is removed."""
    from sqlalchemy import select

    from rendercli import storage
    from rendercli.db.models import Asset, RenderJob
    from rendercli.services.upkeep.sweeps import remove_renders, remove_unreferenced_objects

    with uow:
        project = find_owned(uow, user_id, ref)
        ensure_not_rendering(uow, project, "delete it")
        view = _view(uow, project)
        job_ids = list(
            uow.session.scalars(select(RenderJob.id).where(RenderJob.project_id == project.id))
        )
        keys = list(
            uow.session.scalars(select(Asset.storage_key).where(
                Asset.project_id == project.id, Asset.storage_key.is_not(None)))  # not titles
        )
        for job_id in job_ids:
            storage.check_job_id(job_id)
        for key in keys:
            storage.check_digest(key)
        uow.session.delete(project)
        uow.record_event("project.deleted", user_id, project_id=project.id)
        uow.commit()
    remove_unreferenced_objects(uow, keys, reason="project delete: no asset uses it any more")
    remove_renders(job_ids)
    return view
