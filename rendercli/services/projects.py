"""Projects: owned by a user; another user's project is indistinguishable from a missing one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from rendercli.db.models import Asset, Project, RenderJob
from rendercli.db.types import utcnow
from rendercli.errors import Conflict, InvalidInput, NotFound
from rendercli.services.unit_of_work import UnitOfWork

MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class ProjectView:
    id: str
    name: str
    asset_count: int
    render_count: int
    created_at: datetime
    updated_at: datetime


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


def find_owned(uow: UnitOfWork, user_id: str, ref: str) -> Project:
    """The user's project by id or exact name. Ownership is part of the query."""
    rows = uow.session.scalars(
        select(Project)
        .where(Project.owner_id == user_id)
        .where(or_(Project.id == ref, Project.name == ref))
    ).all()
    if not rows:
        raise NotFound(f"project not found: {ref}")
    # An id match wins over a project that happens to be named like another's id.
    return next((p for p in rows if p.id == ref), rows[0])


def _view(uow: UnitOfWork, project: Project) -> ProjectView:
    assets = uow.session.scalar(
        select(func.count()).select_from(Asset).where(Asset.project_id == project.id)
    )
    renders = uow.session.scalar(
        select(func.count()).select_from(RenderJob).where(RenderJob.project_id == project.id)
    )
    return ProjectView(
        id=project.id,
        name=project.name,
        asset_count=assets or 0,
        render_count=renders or 0,
        created_at=project.created_at,
        updated_at=project.updated_at,
    )


def active_job(uow: UnitOfWork, project_id: str) -> RenderJob | None:
    """The project's queued or processing render job, if any (the database allows one)."""
    from rendercli.db.models import ACTIVE_JOB_STATUSES

    return uow.session.scalars(
        select(RenderJob).where(
            RenderJob.project_id == project_id, RenderJob.status.in_(ACTIVE_JOB_STATUSES)
        )
    ).first()


def ensure_not_rendering(uow: UnitOfWork, project: Project, action: str) -> None:
    """Raise Conflict if the project has a queued or processing render."""
    active = active_job(uow, project.id)
    if active is not None:
        raise Conflict(
            f"cannot {action} while project {project.name!r} is rendering ({active.id}, "
            f"{active.status}): wait for it, or `rendercli jobs cancel {active.id}`"
        )


def _name_taken(name: str) -> Conflict:
    return Conflict(f"you already have a project named {name!r}")


def create(uow: UnitOfWork, user_id: str, name: str) -> ProjectView:
    """Create a project. Raises Conflict if the user already has one with that name."""
    name = validate_name(name)
    with uow:
        project = Project(owner_id=user_id, name=name)
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
        rows = uow.session.scalars(
            select(Project)
            .where(Project.owner_id == user_id)
            .order_by(Project.updated_at.desc(), Project.name)
        ).all()
        return [_view(uow, p) for p in rows]


def get(uow: UnitOfWork, user_id: str, ref: str) -> ProjectView:
    """One of the user's projects by id or name."""
    with uow:
        return _view(uow, find_owned(uow, user_id, ref))


def rename(uow: UnitOfWork, user_id: str, ref: str, new_name: str) -> ProjectView:
    """Rename a project. Raises Conflict if the new name is taken."""
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


def delete(uow: UnitOfWork, user_id: str, ref: str) -> ProjectView:
    """Delete a project with its assets and render history (database cascade), then the
    files nothing else uses. A job id or storage key that is not well formed (a tampered
    row) refuses the whole delete before anything is removed."""
    from rendercli import storage
    from rendercli.services.assets import remove_unreferenced_objects

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
    remove_unreferenced_objects(uow, keys)
    _remove_renders(job_ids)
    return view


def _remove_renders(job_ids: list[str]) -> None:
    """Delete the rendered videos and posters of deleted jobs (named by job id)."""
    import logging

    from rendercli import storage
    from rendercli.config import get_settings

    storage_dir = get_settings().storage_dir
    for job_id in job_ids:
        try:
            storage.remove_job_renders(storage_dir, job_id)
        except OSError as exc:  # the rows are gone; a stray file is harmless
            logging.getLogger(__name__).warning("could not remove renders of %s: %s",
                                                job_id, exc)
