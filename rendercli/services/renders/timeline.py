"""Turn a project's item rows into the render engine's timeline items, and the timeline
check every item change runs before it commits.

The rows are ORM `Asset` rows or the plain-SQL `ItemRow`s of `services.items.read_items`
(the same attributes; titles and texts likewise), so this module never loads the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rendercli.config import get_settings
from rendercli.errors import InvalidInput
from rendercli.render.timeline import (
    DEFAULT_FIT,
    FITS,
    TextOverlay,
    TimelineItem,
    TitleCard,
    Transition,
    title_item,
    validate_timeline,
)
from rendercli.services.items import ItemRow, read_items, timeline_duration

if TYPE_CHECKING:
    from rendercli.db.models import Asset
    from rendercli.db.rows import Rows
    from rendercli.services.unit_of_work import UnitOfWork


def project_fit(rows: Rows, project_id: str) -> str:
    """The project's default fit for clips and stills (contain unless it says)."""
    found = rows.all("SELECT fit FROM projects WHERE id = :id", id=project_id)
    fit = found[0]["fit"] if found else None
    return fit if fit in FITS else DEFAULT_FIT


def timeline_items(assets: Sequence[Asset | ItemRow], storage_dir: Path,
                   default_fit: str = DEFAULT_FIT) -> list[TimelineItem]:
    """Timeline items in position order (fonts are not items; titles and texts name
    theirs), reading files from content-addressed storage. Clips and stills without a
    fit of their own get ``default_fit`` (the project's: ``project_fit``).

    Paths are built only through storage's validated key functions, and a font must be
    one of these rows (the project's own), so a row cannot point the render elsewhere.
    """
    from rendercli.storage import object_path

    fonts = {a.id: a for a in assets if a.kind == "font"}

    def font(font_id: str | None) -> tuple[Path | None, str]:
        if font_id is None:
            return None, ""
        row = fonts.get(font_id)
        if row is None or row.storage_key is None or row.sha256 is None:
            raise InvalidInput(f"a font of this timeline is missing: {font_id}")
        return object_path(storage_dir, row.storage_key), row.sha256

    def overlay(row: Any) -> TextOverlay:  # an AssetText row or a TextView
        path, sha = font(row.font_id)
        return TextOverlay(text=row.text, start=row.start, duration=row.duration,
                           placement=row.placement, size=row.size, color=row.color,
                           box=row.box, font=path, font_sha256=sha)

    items = []
    timeline = sorted((a for a in assets if a.kind != "font"), key=lambda a: a.position or 0)
    for asset in timeline:
        settings = {
            "transition": Transition(asset.transition, asset.transition_seconds),
            "fade_in": asset.fade_in,
            "fade_out": asset.fade_out,
            "volume": asset.volume,
            "mute": asset.mute,
            "duck": asset.duck,
            "motion": asset.motion,
            "fit": (asset.fit or default_fit) if asset.kind in ("video", "image")
            else DEFAULT_FIT,
            "texts": tuple(overlay(t) for t in asset.texts),
            "name": asset.display_name,
        }
        if asset.kind == "title":
            card = asset.title
            if card is None:
                raise InvalidInput(f"title item {asset.id} has no card")
            path, sha = font(card.font_id)
            items.append(title_item(
                TitleCard(text=card.text, background=card.background, color=card.color,
                          size=card.size, font=path, font_sha256=sha),
                timeline_duration(asset), **settings))
            continue
        if asset.storage_key is None or asset.sha256 is None:
            raise InvalidInput(f"{asset.display_name}: the item has no stored file")
        items.append(TimelineItem(
            path=object_path(storage_dir, asset.storage_key),
            sha256=asset.sha256,
            kind=asset.kind,  # type: ignore[arg-type]
            duration=timeline_duration(asset),
            trim_start=asset.trim_start or 0.0 if asset.kind != "image" else 0.0,
            has_audio=asset.has_audio,
            width=asset.width,
            height=asset.height,
            rotation=asset.rotation,
            **settings,  # type: ignore[arg-type]
        ))
    return items


def check_timeline(uow: UnitOfWork, project_id: str) -> None:
    """Raise InvalidInput if the project's timeline, as changed so far in this unit of
    work, is not one the engine accepts (checked in seconds; `render submit` checks it
    again on the frame grid of the chosen fps)."""
    uow.session.flush()
    uow.session.expire_all()
    items = timeline_items(read_items(uow.rows, project_id), get_settings().storage_dir,
                           project_fit(uow.rows, project_id))
    validate_timeline(items, require_picture=False)
