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
    from `samples` (clips, a still and a music track, in timeline order) as `show_off`
    lays it out, or reuse it as it is, so earlier demo renders stay where they were
    printed."""
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
        show_off(uow, session_user.id, project_id, samples)
        timeline = assets.list_assets(uow, session_user.id, project_id)
    return Demo(user=session_user, token=token, project_id=project_id,
                asset_count=len(timeline.assets))


TITLE = "rendercli"
TITLE_BACKGROUND = "#264653"  # a dark teal: not a colour of the sample media
LOWER_THIRD = "A lower third: any text, any script · 你好"


def show_off(uow: UnitOfWork, user_id: str, project_id: str, samples: list[Path]) -> None:
    """The demo timeline, showing what the engine does in 10 seconds: a title card that
    crossfades into the first clip, a lower-third text over that clip, a slow zoom on
    the still, a fade through black into the last clip, and music that dips under the
    clips' sound. `samples` are make_samples' clip, still, clip and music."""
    from rendercli.services import texts, titles

    title = titles.add(uow, user_id, project_id, TITLE,
                       titles.TitleEdits(duration=2, background=TITLE_BACKGROUND, fade_in=0.5))
    opening, still, closing, music = assets.add(uow, user_id, project_id, samples)
    edits = [
        (title, assets.Edits(transition="crossfade:0.5")),
        (opening, assets.Edits(transition="crossfade:1")),
        (still, assets.Edits(duration=3, motion="zoom-in", transition="fadeblack:0.5")),
        (closing, assets.Edits(fade_out=0.5)),
        (music, assets.Edits(duck=True, volume="0.8", fade_in=0.5)),
    ]
    for item, change in edits:
        assets.update_asset(uow, user_id, item.id, change)
    texts.add(uow, user_id, opening.id, LOWER_THIRD,
              texts.TextEdits(start=0.3, duration=2.2, fade_in=0.3, fade_out=0.3))


def samples_dir(data_dir: Path) -> Path:
    return ensure_private_dir(data_dir) / "demo-media"
