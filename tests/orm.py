"""ORM sessions for tests that set up or inspect rows through the models (the product
itself runs plain SQL; the models describe the schema)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker


class SessionFactory(sessionmaker[Session]):
    """Sessions on one database; `url` names it (for `UnitOfWork(factory.url)`)."""

    url: str


def get_session_factory(url: str) -> SessionFactory:
    """Sessions on `url` (its schema checked, or created on SQLite, first)."""
    from rendercli.db.engines import check_schema, get_engine

    check_schema(url)
    factory = SessionFactory(bind=get_engine(url), expire_on_commit=False)
    factory.url = url
    return factory


def job_in(session: Session, project_id: str, **values: object) -> object:
    """A RenderJob of that project, owned as the product makes it (its project's owner)."""
    from rendercli.db.models import Project, RenderJob

    project = session.get(Project, project_id)
    assert project is not None, project_id
    return RenderJob(project_id=project_id, owner_id=project.owner_id, **values)
