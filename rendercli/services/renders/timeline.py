"""Turn a project's item rows into the render engine's timeline items, and the one
timeline check (`check_timeline`): every item change runs it before it commits, and
`render submit` on the chosen frame grid.

The rows are the plain-SQL `ItemRow`s of `repositories.items.read_items` (or ORM `Asset`
rows with the same attributes, until their last callers go), so this module never loads
the ORM.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rendercli.errors import InvalidInput
from rendercli.render.timeline import (
    DEFAULT_FIT,
    FITS,
    MAX_ITEMS,
    MAX_TEXTS_PER_ITEM,
    PICTURE_KINDS,
    TextOverlay,
    TimelineItem,
    TitleCard,
    Transition,
    check_lengths,
    title_item,
    validate_timeline,
)
from rendercli.services.items import ItemRow, read_items, timeline_duration

if TYPE_CHECKING:
    from rendercli.config import Settings
    from rendercli.db.rows import Rows
    from rendercli.render.timeline import RenderSettings
    from rendercli.services.unit_of_work import UnitOfWork


# Number columns of an item row and of a text row; a row written by hand may hold
# anything in them (SQLite even text), so each is checked before any arithmetic.
_ITEM_NUMBERS = ("duration", "trim_start", "trim_end", "still_duration", "transition_seconds",
                 "fade_in", "fade_out", "volume")
_TEXT_NUMBERS = ("start", "duration")


def _check_numbers(asset: Any) -> None:
    if len(asset.texts) > MAX_TEXTS_PER_ITEM:
        raise InvalidInput(f"{asset.display_name}: {len(asset.texts)} texts; at most "
                           f"{MAX_TEXTS_PER_ITEM} per item are allowed")
    for row, names in ((asset, _ITEM_NUMBERS), *((t, _TEXT_NUMBERS) for t in asset.texts)):
        for name in names:
            value = getattr(row, name)
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, int | float) or not math.isfinite(value)):
                raise InvalidInput(f"{asset.display_name}: {name} is not a number of "
                                   f"seconds ({str(value)[:40]!r})")


def stored_fit(fit: object) -> str:
    """A project's default fit as read from its row: contain when NULL; a value
    rendercli does not know (a row written by hand) is refused."""
    if fit is None:
        return DEFAULT_FIT
    if fit not in FITS:
        raise InvalidInput(f"the project's fit {str(fit)[:20]!r} is not one of "
                           f"{', '.join(FITS)}: set it with `rendercli project fit`")
    return str(fit)


def project_fit(rows: Rows, project_id: str) -> str:
    """The project's default fit for clips and stills (contain unless it says)."""
    found = rows.all("SELECT fit FROM projects WHERE id = :id", id=project_id)
    return stored_fit(found[0]["fit"] if found else None)


def timeline_items(assets: Sequence[ItemRow], app: Settings,
                   default_fit: str = DEFAULT_FIT) -> list[TimelineItem]:
    """Timeline items in position order (fonts are not items; titles and texts name
    theirs), reading files from content-addressed storage. Clips and stills without a
    fit of their own get ``default_fit`` (the project's: ``project_fit``).

    Paths are built only through storage's validated key functions, and a font must be
    one of these rows (the project's own), so a row cannot point the render elsewhere.
    Each file's content hash is its storage key, the name of the object that is
    encoded (cache keys are made from it, and the engine checks the bytes against it),
    never the row's separate `sha256` column.
    Rows are untrusted: the number of items and texts, and every length in seconds, are
    checked against their limits (RENDERCLI_MAX_DURATION for time, whether an item's or
    the whole timeline's) before anything is planned, at input and at render time alike.
    """
    from rendercli.storage import object_path

    if len(assets) > MAX_ITEMS:
        raise InvalidInput(f"the project has {len(assets)} items; at most {MAX_ITEMS} are "
                           "allowed")
    for asset in assets:
        _check_numbers(asset)
    fonts = {a.id: a for a in assets if a.kind == "font"}

    def font(font_id: str | None) -> tuple[Path | None, str, str]:
        if font_id is None:
            return None, "", ""
        row = fonts.get(font_id)
        if row is None or row.storage_key is None:
            raise InvalidInput(f"a font of this timeline is missing: {font_id}")
        return object_path(app.storage_dir, row.storage_key), row.storage_key, row.display_name

    def overlay(row: Any) -> TextOverlay:  # an AssetText row or a TextView
        path, sha, name = font(row.font_id)
        return TextOverlay(text=row.text, start=row.start, duration=row.duration,
                           placement=row.placement, size=row.size, color=row.color,
                           box=row.box, font=path, font_sha256=sha, font_name=name,
                           font_face=row.font_face, fade_in=row.fade_in,
                           fade_out=row.fade_out, style=row.style)

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
            path, sha, name = font(card.font_id)
            items.append(title_item(
                TitleCard(text=card.text, background=card.background, color=card.color,
                          size=card.size, font=path, font_sha256=sha, font_name=name,
                          font_face=card.font_face, fade_in=card.fade_in,
                          fade_out=card.fade_out, style=card.style),
                timeline_duration(asset), **settings))
            continue
        if asset.storage_key is None:
            raise InvalidInput(f"{asset.display_name}: the item has no stored file")
        items.append(TimelineItem(
            path=object_path(app.storage_dir, asset.storage_key),
            sha256=asset.storage_key,  # the key names what is encoded (and is checked)
            kind=asset.kind,  # type: ignore[arg-type]
            duration=timeline_duration(asset),
            trim_start=asset.trim_start or 0.0 if asset.kind != "image" else 0.0,
            has_audio=asset.has_audio,
            width=asset.width,
            height=asset.height,
            rotation=asset.rotation,
            **settings,  # type: ignore[arg-type]
        ))
    check_lengths(items, app.max_duration, "RENDERCLI_MAX_DURATION")
    return items


def check_timeline(uow: UnitOfWork, project_id: str, *,
                   settings: RenderSettings | None = None, project_name: str = "",
                   items: Sequence[Any] | None = None, default_fit: str | None = None) -> None:
    """InvalidInput unless the project's timeline is one the engine accepts: without
    ``settings`` (every item change, before it commits) in seconds, every character of
    its texts in some font; with a render's ``settings`` (`render submit`, `render
    batch`) on the frame grid of its fps, texts stacked, with a picture to render.
    ``items``, ``default_fit``: the project's item rows and fit, if already read."""
    from rendercli.render.subtitles import check_fonts

    rows = uow.rows
    if items is None:
        items = read_items(rows, project_id)
    if settings is not None and not any(a.kind in PICTURE_KINDS for a in items):
        raise InvalidInput(
            f"project {project_name!r} has no video or image assets (or titles) to "
            "render: add some with `rendercli asset add` or `rendercli title add`"
        )
    timeline = timeline_items(items, uow.settings,
                              default_fit or project_fit(rows, project_id))
    if settings is None:
        validate_timeline(timeline, require_picture=False)
        check_fonts(timeline)  # fonts readable, every character drawn by some font
    else:
        validate_timeline(timeline, settings.fps)  # on the frame grid: transitions fit
        check_fonts(timeline, settings)
