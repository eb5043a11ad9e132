"""Title cards: generated timeline items (kind "title", no media file) with centred text
on a plain background. `asset update` / `asset remove` work on them like on any item."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rendercli.db.rows import Rows
from rendercli.errors import InvalidInput
from rendercli.render.timeline import (
    DEFAULT_TITLE_SECONDS,
    TEXT_SIZES,
    check_text_fades,
    parse_color,
)
from rendercli.repositories import items as repo
from rendercli.repositories.items import ItemRow, TitleView
from rendercli.services.items import AssetView, asset_view, find_item, one_line
from rendercli.services.projects import owned_project_id
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
    from rendercli.services.texts import check_text_style

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
    check_text_style(edits.style, edits.font_face or 0)
    check_text_fades("title", edits.fade_in or 0.0, edits.fade_out or 0.0, None)


def _apply(rows: Rows, item: ItemRow, text: str | None, edits: TitleEdits) -> None:
    """Set the given edits on a title item and its card (written by the caller)."""
    assert item.title is not None
    changed = {name: getattr(edits, name) for name in ("background", "color", "size",
                                                      "font_face", "fade_in", "fade_out",
                                                      "style") if getattr(edits, name) is not None}
    if text is not None:
        changed["text"] = text
        item.display_name = one_line(text)
    if edits.font is not None:
        changed["font_id"] = repo.resolve_font(rows, item.project_id, edits.font)
    if edits.duration is not None:
        item.still_duration = edits.duration
    item.title = replace(item.title, **changed)


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
        rows = uow.rows
        project_id = owned_project_id(rows, user_id, project_ref)
        repo.lock_projects(rows, project_id)
        first = repo.check_position(position, repo.count_positions(rows, project_id), adding=1)
        repo.shift_positions(rows, project_id, first, 1)
        item = repo.new_item(
            {"project_id": project_id, "position": first, "kind": "title",
             "display_name": one_line(text), "still_duration": DEFAULT_TITLE_SECONDS},
            TitleView(text=text, background="black", color="white", size="large",
                      font_id=None))
        _apply(rows, item, text, edits)
        repo.insert_item(rows, item)
        uow.record_event("title.added", user_id, project_id=project_id, chars=len(text))
        check_timeline(uow, project_id)
        uow.commit()
        return asset_view(item)


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
        rows = uow.rows
        item = find_item(rows, user_id, item_id, what="title")
        if item.kind != "title":
            raise InvalidInput(f"{item.display_name} is a {item.kind} item, not a title: "
                               "use `rendercli asset update`")
        repo.lock_projects(rows, item.project_id)
        _apply(rows, item, text, edits)
        if position is not None:
            repo.move_item(rows, item, position)
        repo.update_item(rows, item)
        check_timeline(uow, item.project_id)
        uow.commit()
        return asset_view(item)
