"""A project's items (media, title cards, fonts) as callers see them: views and the
seconds they occupy. Their rows are read and written in `rendercli.repositories.items`.

`assets`, `titles` and `texts` change items; positions stay 1..N over the timeline items
(fonts have none). Before a change commits they run
`services.renders.timeline.check_timeline`, so a change that would leave an invalid
timeline (a transition longer than a neighbour, fades longer than the item, text
starting after its item ends) is refused with the engine's own reason.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rendercli.db.rows import Rows
from rendercli.errors import NotFound
from rendercli.render.timeline import (
    DEFAULT_STILL_SECONDS,
    DEFAULT_TITLE_SECONDS,
    PICTURE_KINDS,
)
from rendercli.repositories import items as repo
from rendercli.repositories.items import _VIEW_COLUMNS, AssetView, ItemRow, read_items
from rendercli.repositories.projects import owned_project

__all__ = ["AssetView", "ItemRow", "TimelineView", "asset_view", "find_item",
           "picture_duration", "read_items", "timeline_duration"]

# PROJECT:N, the N-th item (1-based) on the timeline of the caller's project PROJECT (a
# name or an id); the project part may itself hold colons ("talk: part 2:3").
_AT_POSITION = re.compile(r"^(?P<project>.+):(?P<position>[0-9]{1,9})$", re.DOTALL)


def find_item(rows: Rows, user_id: str, ref: str, *, what: str = "asset") -> ItemRow:
    """One of the caller's items: by id, or as `PROJECT:N` (its position on the timeline
    of PROJECT, named or by id). Another user's item or project is "not found", like a
    missing one; a position the project does not have is NotFound saying how many it
    has (exit 3)."""
    at = _AT_POSITION.match(ref)
    if at is None:
        return repo.owned_item(rows, user_id, ref, what=what)
    project = owned_project(rows, user_id, at["project"])
    position = int(at["position"])
    item = repo.owned_item_at(rows, user_id, project.id, position) if position else None
    if item is None:
        count = repo.count_positions(rows, project.id)
        has = "no items" if count == 0 else f"{count} item{'s' * (count != 1)}"
        raise NotFound(f"project {one_line(project.name)} has {has}; {position} is not "
                       "one of them (see `rendercli asset list "
                       f"{one_line(project.name)}`)")
    return item


@dataclass(frozen=True)
class TimelineView:
    project_id: str
    project_name: str
    assets: list[AssetView]  # timeline items in position order, then fonts
    total_duration: float  # the picture timeline, transitions overlapped
    audio_duration: float  # background audio before it is cut at the end of the timeline


def timeline_duration(asset: ItemRow) -> float:
    """The seconds an item occupies on the timeline (0 for fonts)."""
    if asset.kind == "font":
        return 0.0
    if asset.kind == "image":
        return asset.still_duration or DEFAULT_STILL_SECONDS
    if asset.kind == "title":
        return asset.still_duration or DEFAULT_TITLE_SECONDS
    start = asset.trim_start or 0.0
    end = asset.trim_end if asset.trim_end is not None else (asset.duration or 0.0)
    return max(0.0, end - start)


def asset_view(asset: ItemRow) -> AssetView:
    """The view of an item as read or as changed."""
    values = {name: getattr(asset, name) for name in _VIEW_COLUMNS}
    return AssetView(timeline_duration=round(timeline_duration(asset), 6),
                     text_count=len(asset.texts), title=asset.title, **values)


def picture_duration(rows: Sequence[ItemRow]) -> float:
    """Seconds of picture: item durations less the transitions that overlap them."""
    pictures = [a for a in sorted(rows, key=repo.timeline_order) if a.kind in PICTURE_KINDS]
    total = sum(timeline_duration(a) for a in pictures)
    overlaps = sum(a.transition_seconds for a in pictures[:-1] if a.transition != "none")
    return max(0.0, total - overlaps)


def one_line(text: str, limit: int = 80) -> str:
    """Text as one printable line (for names and tables): breaks and controls become
    spaces, long text ends with an ellipsis."""
    cleaned = " ".join(
        "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs") else ch
                for ch in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "\u2026"
