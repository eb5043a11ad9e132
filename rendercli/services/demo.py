"""The demo: a ready-made account and project with sample media, for `rendercli demo`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from rendercli.errors import NotFound
from rendercli.fsmodes import ensure_private_dir
from rendercli.repositories import accounts as account_rows
from rendercli.services import accounts, assets, projects
from rendercli.services.unit_of_work import UnitOfWork

DEMO_EMAIL = "demo@rendercli.invalid"  # .invalid: reserved, can never be a real address
DEMO_PROJECT = "demo"


@dataclass(frozen=True)
class Demo:
    user: accounts.UserView
    token: str  # a real session, valid for a day, for exploring as the demo user
    project_id: str
    asset_count: int


def _demo_user_id(uow: UnitOfWork) -> str | None:
    with uow:
        found = account_rows.user(uow.rows, email=DEMO_EMAIL)
        return None if found is None else str(found["id"])


def _postgres_demo_session(uow: UnitOfWork) -> str:
    """On a shared PostgreSQL no client may start a session without a password, and a
    shared demo account would be everyone's: each run registers its own throwaway demo
    account and logs in to it like anyone else."""
    email = f"demo-{secrets.token_hex(6)}@rendercli.invalid"
    password = secrets.token_urlsafe(24)
    accounts.register(uow, email, password)
    return accounts.login(uow, email, password, session_name="demo").token


def prepare(uow: UnitOfWork, samples: list[Path]) -> Demo:
    """Create (or reuse) the demo account and start it a session; create the demo project
    from `samples` (clips, a still and a music track, in timeline order), or reuse it as
    it is, so earlier demo renders stay where they were printed."""
    with uow:
        on_postgres = uow.rows.postgres
    if on_postgres:
        token = _postgres_demo_session(uow)
        user_id = accounts.authenticate(uow, token).id
    else:
        user_id = _demo_user_id(uow)
        if user_id is None:
            # Nobody knows this password: the demo account is only used through sessions.
            user_id = accounts.register(uow, DEMO_EMAIL, secrets.token_urlsafe(24)).id
        token = accounts.start_session(uow, user_id, "demo", timedelta(days=1)).token
    session_user = accounts.authenticate(uow, token)
    uow = uow.acting_as(token)
    try:
        with uow:
            project_id = projects.owned_project_id(uow.rows, session_user.id, DEMO_PROJECT)
    except NotFound:
        project_id = projects.create(uow, session_user.id, DEMO_PROJECT).id
    timeline = assets.list_assets(uow, session_user.id, project_id)
    if not any(a.kind in ("video", "image") for a in timeline.assets):
        for path in samples:  # the still is shown for the default time
            assets.add(uow, session_user.id, project_id, [path])
        timeline = assets.list_assets(uow, session_user.id, project_id)
    return Demo(user=session_user, token=token, project_id=project_id,
                asset_count=len(timeline.assets))


def samples_dir(data_dir: Path) -> Path:
    return ensure_private_dir(data_dir) / "demo-media"
