"""Text overlays: text drawn over a picture item (clip, still or title) for a time range
within it. Several per item, drawn in the order they were added."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rendercli.errors import InvalidInput
from rendercli.render.timeline import (
    MAX_FONT_FACE,
    PICTURE_KINDS,
    PLACEMENTS,
    TEXT_SIZES,
    TEXT_STYLES,
    check_text_fades,
    parse_color,
)
from rendercli.repositories import items as repo
from rendercli.repositories.items import TextView
from rendercli.services.items import find_item
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
        rows = uow.rows
        asset = find_item(rows, user_id, asset_id)
        if asset.kind not in PICTURE_KINDS:
            raise InvalidInput(f"{asset.display_name}: text is drawn over picture items "
                               f"(video, images, titles), not over a {asset.kind} item")
        repo.lock_projects(rows, asset.project_id)
        view = repo.insert_text(rows, asset.id, {
            "text": text, "start": edits.start, "duration": edits.duration,
            "placement": edits.placement, "size": edits.size, "color": edits.color,
            "box": edits.box, "font_face": edits.font_face, "fade_in": edits.fade_in,
            "fade_out": edits.fade_out, "style": edits.style or "",
            "font_id": None if edits.font is None else repo.resolve_font(
                rows, asset.project_id, edits.font)})
        check_timeline(uow, asset.project_id)
        uow.record_event("text.added", user_id, project_id=asset.project_id, chars=len(text))
        uow.commit()
        return view


def list_texts(uow: UnitOfWork, user_id: str, asset_id: str) -> list[TextView]:
    """The text overlays of one of the user's items, in drawing order."""
    with uow:
        return find_item(uow.rows, user_id, asset_id).texts


def _owned_text(uow: UnitOfWork, user_id: str, text_id: str) -> tuple[TextView, str]:
    """The caller's text overlay and its item's project, locked for the change (else
    not found)."""
    row, project_id = repo.owned_text(uow.rows, user_id, text_id)
    repo.lock_projects(uow.rows, project_id)
    return row, project_id


def remove(uow: UnitOfWork, user_id: str, text_id: str) -> TextView:
    """Remove a text overlay; the item's other texts keep their order."""
    with uow:
        row, _project_id = _owned_text(uow, user_id, text_id)
        repo.delete_text(uow.rows, row)
        uow.commit()
        return row


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
        row, project_id = _owned_text(uow, user_id, text_id)
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
        font_id = row.font_id if changes.font is None else repo.resolve_font(
            uow.rows, project_id, changes.font)
        view = replace(
            row, text=row.text if text is None else text, start=merged.start,
            duration=merged.duration, placement=merged.placement, size=merged.size,
            color=merged.color, box=merged.box, font_face=merged.font_face,
            fade_in=merged.fade_in, fade_out=merged.fade_out, style=merged.style or "",
            font_id=font_id)
        repo.update_text(uow.rows, view)
        check_timeline(uow, project_id)
        uow.commit()
        return view
