"""Projects: owned by a user; another user's project is indistinguishable from a missing one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rendercli.db.ids import new_id
from rendercli.db.rows import Rows, integrity_error
from rendercli.errors import Conflict, InvalidInput
from rendercli.repositories import projects as repo
from rendercli.repositories.projects import active_job as active_job_row
from rendercli.repositories.projects import owned_project, owned_project_id
from rendercli.services.unit_of_work import UnitOfWork

# Re-exported: callers import them here.
__all__ = ["active_job_row", "owned_project", "owned_project_id"]

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


def _view_of(row: Mapping[str, Any]) -> ProjectView:
    return ProjectView(
        id=row["id"],
        name=row["name"],
        asset_count=int(row["asset_count"] or 0),
        render_count=int(row["render_count"] or 0),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        fit=row["fit"] or "contain",
    )


def _view(rows: Rows, user_id: str, project_id: str) -> ProjectView:
    [row] = repo.projects_of(rows, user_id, project_id)
    return _view_of(row)


def ensure_not_rendering(rows: Rows, project_id: str, name: str, action: str) -> None:
    """Raise Conflict if the project has a queued or processing render."""
    active = repo.active_job(rows, project_id)
    if active is not None:
        raise Conflict(
            f"cannot {action} while project {name!r} is rendering ({active['id']}, "
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


def _unless_taken(name: str, change: Any) -> Any:
    """Run `change`; a broken unique constraint says the name is taken."""
    try:
        return change()
    except Exception as exc:
        if integrity_error(exc):
            raise _name_taken(name) from None
        raise


def create(uow: UnitOfWork, user_id: str, name: str, fit: str | None = None) -> ProjectView:
    """Create a project (``fit``: its clips' and stills' default fit, contain unless
    given). Raises Conflict if the user already has one with that name."""
    name = validate_name(name)
    stored_fit = _fit(fit)
    project = repo.ProjectRow(new_id(), name, fit=stored_fit)
    with uow:
        _unless_taken(name, lambda: repo.insert_project(uow.rows, user_id, project))
        uow.record_event("project.created", user_id, project_id=project.id)
        view = _view(uow.rows, user_id, project.id)
        uow.commit()
        return view


def list_projects(uow: UnitOfWork, user_id: str) -> list[ProjectView]:
    """The user's projects, most recently updated first."""
    with uow:
        return [_view_of(row) for row in repo.projects_of(uow.rows, user_id)]


def get(uow: UnitOfWork, user_id: str, ref: str) -> ProjectView:
    """One of the user's projects by id or name."""
    with uow:
        return _view(uow.rows, user_id, owned_project_id(uow.rows, user_id, ref))


def rename(uow: UnitOfWork, user_id: str, ref: str, new_name: str) -> ProjectView:
    """Rename a project. Raises Conflict if the new name is taken."""
    new_name = validate_name(new_name)
    with uow:
        project_id = owned_project_id(uow.rows, user_id, ref)
        _unless_taken(new_name,
                      lambda: repo.update_project(uow.rows, project_id, name=new_name))
        view = _view(uow.rows, user_id, project_id)
        uow.commit()
        return view


def set_fit(uow: UnitOfWork, user_id: str, ref: str, fit: str) -> ProjectView:
    """Set how the project's clips and stills meet the frame unless an item says
    (contain, cover, blur; contain-blur is blur). Raises InvalidInput, NotFound."""
    stored = _fit(fit)
    with uow:
        project_id = owned_project_id(uow.rows, user_id, ref)
        repo.update_project(uow.rows, project_id, fit=stored)
        view = _view(uow.rows, user_id, project_id)
        uow.commit()
        return view


def delete(uow: UnitOfWork, user_id: str, ref: str) -> ProjectView:
    """Delete a project with its assets and render history (database cascade), then the
    files nothing else uses. A job id or storage key that is not well formed (a tampered
    row) refuses the whole delete before anything is removed."""
    from rendercli import storage
    from rendercli.services.upkeep.sweeps import remove_renders, remove_unreferenced_objects

    with uow:
        project = owned_project(uow.rows, user_id, ref)
        ensure_not_rendering(uow.rows, project.id, project.name, "delete it")
        view = _view(uow.rows, user_id, project.id)
        job_ids, keys = repo.files_of(uow.rows, project.id)
        for job_id in job_ids:
            storage.check_job_id(job_id)
        for key in keys:
            storage.check_digest(key)
        repo.delete_project(uow.rows, project.id)
        uow.record_event("project.deleted", user_id, project_id=project.id)
        uow.commit()
    remove_unreferenced_objects(uow, [*keys], reason="project delete: no asset uses it any more")
    remove_renders(uow.settings, job_ids)
    return view
