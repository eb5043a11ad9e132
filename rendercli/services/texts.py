"""Text overlays: text drawn over a picture item (clip, still or title) for a time range
within it. Several per item, drawn in the order they were added."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy import update as sql_update

from rendercli.db.models import Asset, AssetText, Project
from rendercli.db.types import utcnow
from rendercli.errors import InvalidInput, NotFound
from rendercli.render.timeline import (
    MAX_FONT_FACE,
    PICTURE_KINDS,
    PLACEMENTS,
    TEXT_SIZES,
    TEXT_STYLES,
    check_text_fades,
    parse_color,
)
from rendercli.services.items import (
    TEXT_COLUMNS,
    TextView,
    find_item,
    lock_project,
    resolve_font,
)
from rendercli.services.renders.timeline import check_timeline
from rendercli.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class TextEdits:
    """Options of `text add`. None means the default."""

    start: float = 0.0  # --at: seconds into the item
    duration: float | None = None  # --for: seconds shown; None: to the end of the item
    placement: str = "lower-third"
    size: str = "medium"
    color: str = "white"
    box: bool = True  # a translucent dark box behind the text
    font: str | None = None  # a font asset of the project (id or file name)
    font_face: int = 0  # the face of a .ttc/.otc font collection
    fade_in: float = 0.0  # seconds
    fade_out: float = 0.0
    style: str | None = None  # box | outline | shadow | none; None: as `box` says


def _view(row: AssetText) -> TextView:
    return TextView(**{name: getattr(row, name) for name in TEXT_COLUMNS})


def _check(edits: TextEdits) -> None:
    if not (edits.start >= 0):
        raise InvalidInput("--at must be zero or more seconds")
    if edits.duration is not None and not (edits.duration > 0):
        raise InvalidInput("--for must be more than 0 seconds")
    if edits.placement not in PLACEMENTS:
        raise InvalidInput(f"unknown --placement {edits.placement!r}; choose one of "
                           f"{', '.join(PLACEMENTS)}")
    if edits.size not in TEXT_SIZES:
        raise InvalidInput(f"unknown --size {edits.size!r}; choose one of {', '.join(TEXT_SIZES)}")
    try:
        parse_color(edits.color)
    except InvalidInput as exc:
        raise InvalidInput(f"--color: {exc.message}") from None
    check_text_style(edits.style, edits.font_face)
    check_text_fades("text", edits.fade_in, edits.fade_out, edits.duration)


def check_text_style(style: str | None, face: int) -> None:
    """--style is one of TEXT_STYLES; --face a face index in bounds."""
    if style is not None and style not in TEXT_STYLES:
        raise InvalidInput(f"unknown --style {style!r}; choose one of {', '.join(TEXT_STYLES)}")
    if not 0 <= face <= MAX_FONT_FACE:
        raise InvalidInput(f"--face must be from 0 to {MAX_FONT_FACE}, got {face}")


def add(uow: UnitOfWork, user_id: str, asset_id: str, text: str,
        edits: TextEdits | None = None) -> TextView:
    """Put text over a picture item. The text is any Unicode, at most 2,000 characters;
    it is wrapped to the frame and reaches ffmpeg as a file, never in a filter graph."""
    edits = edits or TextEdits()
    _check(edits)
    with uow:
        asset = find_item(uow, user_id, asset_id)
        if asset.kind not in PICTURE_KINDS:
            raise InvalidInput(f"{asset.display_name}: text is drawn over picture items "
                               f"(video, images, titles), not over a {asset.kind} item")
        lock_project(uow, asset.project)
        last = uow.session.scalar(
            select(func.max(AssetText.position)).where(AssetText.asset_id == asset.id))
        row = AssetText(
            asset_id=asset.id, position=(last or 0) + 1, text=text, start=edits.start,
            duration=edits.duration, placement=edits.placement, size=edits.size,
            color=edits.color, box=edits.box, created_at=utcnow(),
            font_face=edits.font_face, fade_in=edits.fade_in, fade_out=edits.fade_out,
            style=edits.style or "",
            font_id=None if edits.font is None else resolve_font(uow, asset.project_id,
                                                                 edits.font),
        )
        uow.session.add(row)
        check_timeline(uow, asset.project_id)
        uow.record_event("text.added", user_id, project_id=asset.project_id, chars=len(text))
        view = _view(row)
        uow.commit()
        return view


def list_texts(uow: UnitOfWork, user_id: str, asset_id: str) -> list[TextView]:
    """The text overlays of one of the user's items, in drawing order."""
    with uow:
        asset = find_item(uow, user_id, asset_id)
        rows = uow.session.scalars(
            select(AssetText).where(AssetText.asset_id == asset.id)
            .order_by(AssetText.position)).all()
        return [_view(r) for r in rows]


def _owned_text(uow: UnitOfWork, user_id: str, text_id: str) -> tuple[AssetText, Asset]:
    """The caller's text overlay and its item, the project locked for the change (else
    not found)."""
    row = uow.session.scalars(
        select(AssetText).join(Asset, AssetText.asset_id == Asset.id).join(Project)
        .where(AssetText.id == text_id, Project.owner_id == user_id)
    ).first()
    if row is None:
        raise NotFound(f"text not found: {text_id}")
    asset = uow.session.get(Asset, row.asset_id)
    assert asset is not None
    lock_project(uow, asset.project)
    return row, asset


def remove(uow: UnitOfWork, user_id: str, text_id: str) -> TextView:
    """Remove a text overlay; the item's other texts keep their order."""
    with uow:
        row, _asset = _owned_text(uow, user_id, text_id)
        view = _view(row)
        uow.session.delete(row)
        uow.session.flush()
        uow.session.execute(
            sql_update(AssetText).where(AssetText.asset_id == row.asset_id,
                                    AssetText.position > view.position)
            .values(position=AssetText.position - 1))
        uow.commit()
        return view


@dataclass(frozen=True)
class TextChanges:
    """Options of `text update`. None means "keep"."""

    start: float | None = None
    duration: float | None = None
    placement: str | None = None
    size: str | None = None
    color: str | None = None
    box: bool | None = None
    font: str | None = None  # a font asset of the project, or "default"
    font_face: int | None = None
    fade_in: float | None = None
    fade_out: float | None = None
    style: str | None = None


def update(uow: UnitOfWork, user_id: str, text_id: str, text: str | None,
           changes: TextChanges) -> TextView:
    """Change a text overlay: its text, time, place, look, font or fades. The result is
    checked like a new text (bounds, fades within the time shown, characters in fonts)."""
    if text is None and changes == TextChanges():
        raise InvalidInput("nothing to change: give a new text or an option")
    if text is not None and not text.strip():
        raise InvalidInput("the text must not be empty")
    with uow:
        row, asset = _owned_text(uow, user_id, text_id)
        merged = TextEdits(
            start=row.start if changes.start is None else changes.start,
            duration=row.duration if changes.duration is None else changes.duration,
            placement=changes.placement or row.placement, size=changes.size or row.size,
            color=changes.color or row.color,
            box=row.box if changes.box is None else changes.box,
            font_face=row.font_face if changes.font_face is None else changes.font_face,
            fade_in=row.fade_in if changes.fade_in is None else changes.fade_in,
            fade_out=row.fade_out if changes.fade_out is None else changes.fade_out,
            style=(row.style or None) if changes.style is None else changes.style)
        _check(merged)
        if text is not None:
            row.text = text
        row.start, row.duration = merged.start, merged.duration
        row.placement, row.size, row.color, row.box = (merged.placement, merged.size,
                                                       merged.color, merged.box)
        row.font_face, row.fade_in, row.fade_out = (merged.font_face, merged.fade_in,
                                                    merged.fade_out)
        row.style = merged.style or ""
        if changes.font is not None:
            row.font_id = (None if changes.font == "default"
                           else resolve_font(uow, asset.project_id, changes.font))
        check_timeline(uow, asset.project_id)
        view = _view(row)
        uow.commit()
        return view
