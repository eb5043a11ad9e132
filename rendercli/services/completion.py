"""What shell completion offers for PROJECT, ASSET and JOB: the user's own, by prefix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from rendercli.db.models import Asset, Project, RenderJob

if TYPE_CHECKING:
    from rendercli.services.unit_of_work import UnitOfWork

LIMIT = 100  # a shell shows no more than this usefully


def candidates(uow: UnitOfWork, user_id: str, kind: str, prefix: str) -> list[tuple[str, str]]:
    """(value, description) pairs of the user's projects (by name), assets or jobs (by id)
    starting with `prefix`, newest first. `kind` is "project", "asset" or "job"."""
    with uow:
        if kind == "project":
            rows = uow.session.execute(
                select(Project.name, Project.id).where(Project.owner_id == user_id,
                                                       Project.name.startswith(prefix,
                                                                               autoescape=True))
                .order_by(Project.updated_at.desc()).limit(LIMIT)).all()
            return [(name, f"project {pid}") for name, pid in rows]
        if kind == "asset":
            rows = uow.session.execute(
                select(Asset.id, Asset.display_name, Project.name).join(Project)
                .where(Project.owner_id == user_id, Asset.id.startswith(prefix, autoescape=True))
                .order_by(Asset.created_at.desc()).limit(LIMIT)).all()
            return [(aid, f"{name} in {project}") for aid, name, project in rows]
        if kind == "job":
            rows = uow.session.execute(
                select(RenderJob.id, RenderJob.status, Project.name).join(Project)
                .where(Project.owner_id == user_id,
                       RenderJob.id.startswith(prefix, autoescape=True))
                .order_by(RenderJob.created_at.desc()).limit(LIMIT)).all()
            return [(jid, f"{status}, {project}") for jid, status, project in rows]
    raise ValueError(f"unknown completion kind {kind!r}")
