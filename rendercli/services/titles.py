"""Title cards: generated timeline items (kind "title", no media file) with centred text
on a plain background. `asset update` / `asset remove` work on them like on any item."""

from __future__ import annotations

from dataclasses import dataclass

from rendercli.db.models import Asset, AssetTitle
from rendercli.db.types import utcnow
from rendercli.errors import InvalidInput
from rendercli.render.timeline import DEFAULT_TITLE_SECONDS, TEXT_SIZES, parse_color
from rendercli.services.items import (
    AssetView,
    asset_view,
    check_position,
    count_positions,
    find_item,
    lock_project,
    move,
    one_line,
    resolve_font,
    shift_positions,
)
from rendercli.services.projects import find_owned
from rendercli.services.renders.timeline import check_timeline
from rendercli.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class TitleEdits:
    """Options of `title add` / `title update`. None means "not given"."""

    duration: float | None = None  # seconds shown
    background: str | None = None  # colour name or #RRGGBB
    color: str | None = None  # text colour
    size: str | None = None  # small | medium | large
    font: str | None = None  # a font asset of the project (id or file name), or "default"
    font_face: int | None = None  # the face of a .ttc/.otc font collection
    fade_in: float | None = None  # seconds the text takes to fade in over the card
    fade_out: float | None = None
    style: str | None = None  # box | outline | shadow | none


def _check(text: str | None, edits: TitleEdits) -> None:
    if edits.duration is not None and not (edits.duration > 0):
        raise InvalidInput("--duration must be more than 0 seconds")
    for option, value in (("--background", edits.background), ("--color", edits.color)):
        if value is not None:
            try:
                parse_color(value)
            except InvalidInput as exc:
                raise InvalidInput(f"{option}: {exc.message}") from None
    if edits.size is not None and edits.size not in TEXT_SIZES:
        raise InvalidInput(f"unknown --size {edits.size!r}; choose one of {', '.join(TEXT_SIZES)}")
    if text is not None and not text.strip():
        raise InvalidInput("the title text must not be empty")
    from rendercli.render.timeline import check_text_fades
    from rendercli.services.texts import check_text_style

    check_text_style(edits.style, edits.font_face or 0)
    check_text_fades("title", edits.fade_in or 0.0, edits.fade_out or 0.0, None)


def _apply(uow: UnitOfWork, asset: Asset, text: str | None, edits: TitleEdits) -> None:
    card = asset.title
    assert card is not None
    if text is not None:
        card.text = text
        asset.display_name = one_line(text)
    if edits.duration is not None:
        asset.still_duration = edits.duration
    if edits.background is not None:
        card.background = edits.background
    if edits.color is not None:
        card.color = edits.color
    if edits.size is not None:
        card.size = edits.size
    if edits.font is not None:
        card.font_id = resolve_font(uow, asset.project_id, edits.font)
    for name in ("font_face", "fade_in", "fade_out", "style"):
        if getattr(edits, name) is not None:
            setattr(card, name, getattr(edits, name))


def add(
    uow: UnitOfWork,
    user_id: str,
    project_ref: str,
    text: str,
    edits: TitleEdits | None = None,
    *,
    position: int | None = None,
) -> AssetView:
    """Add a title card to a project's timeline (at the 1-based `position`, else last).

    The text is any Unicode (it reaches ffmpeg as a file, never in a filter graph), at
    most 2,000 characters; it is wrapped to the frame when rendered.
    """
    edits = edits or TitleEdits()
    _check(text, edits)
    with uow:
        project = find_owned(uow, user_id, project_ref)
        lock_project(uow, project)
        first = check_position(position, count_positions(uow, project.id), adding=1)
        shift_positions(uow, project.id, first, 1)
        now = utcnow()
        asset = Asset(
            project_id=project.id, position=first, kind="title", display_name=one_line(text),
            still_duration=DEFAULT_TITLE_SECONDS, rotation=0, has_audio=False,
            title=AssetTitle(text=text, background="black", color="white", size="large"),
            texts=[], created_at=now, updated_at=now,
        )
        uow.session.add(asset)
        _apply(uow, asset, text, edits)
        uow.record_event("title.added", user_id, project_id=project.id, chars=len(text))
        check_timeline(uow, project.id)
        view = asset_view(asset)
        uow.commit()
        return view


def update(
    uow: UnitOfWork,
    user_id: str,
    item_id: str,
    text: str | None = None,
    edits: TitleEdits | None = None,
    *,
    position: int | None = None,
) -> AssetView:
    """Change a title card's text, duration, colours, size, font or position."""
    edits = edits or TitleEdits()
    _check(text, edits)
    if text is None and position is None and edits == TitleEdits():
        raise InvalidInput("nothing to update: give a new TEXT, --duration, --position, "
                           "--background, --color, --size or --font")
    with uow:
        asset = find_item(uow, user_id, item_id, what="title")
        if asset.kind != "title":
            raise InvalidInput(f"{asset.display_name} is a {asset.kind} item, not a title: "
                               "use `rendercli asset update`")
        lock_project(uow, asset.project)
        _apply(uow, asset, text, edits)
        if position is not None:
            move(uow, asset, position)
        asset.updated_at = utcnow()
        check_timeline(uow, asset.project_id)
        view = asset_view(asset)
        uow.commit()
        return view
