"""A project's items (media, title cards, fonts): views, plain-SQL reads, timeline
positions and fonts.

`assets`, `titles` and `texts` change items; all of them go through the helpers here, so
positions stay 1..N over the timeline items (fonts have none). Before a change commits
they run `services.renders.timeline.check_timeline`, so a change that would leave an
invalid timeline (a transition longer than a neighbour, fades longer than the item, text
starting after its item ends) is refused with the engine's own reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rendercli.db.clock import utcnow
from rendercli.db.rows import Rows, as_bool, as_datetime
from rendercli.errors import InvalidInput, NotFound
from rendercli.render.timeline import (
    DEFAULT_STILL_SECONDS,
    DEFAULT_TITLE_SECONDS,
    MAX_ITEMS,
    MAX_TEXTS_PER_ITEM,
    PICTURE_KINDS,
)
from rendercli.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:  # the ORM loads only in the functions that change rows
    from rendercli.db.models import Asset, Project

DEFAULT_FONT = "default"  # `--font default`: back to the font shipped with rendercli


@dataclass(frozen=True)
class TitleView:
    """A title item's card."""

    text: str
    background: str
    color: str
    size: str
    font_id: str | None  # a font asset of the project; None: the shipped font
    font_face: int = 0
    fade_in: float = 0.0
    fade_out: float = 0.0
    style: str = "none"


@dataclass(frozen=True)
class TextView:
    """A text overlay as callers see it: the columns of its row."""

    id: str
    asset_id: str  # the item it is drawn over
    position: int  # 1-based drawing order on that item
    text: str
    start: float
    duration: float | None
    placement: str
    size: str
    color: str
    box: bool
    font_id: str | None
    created_at: datetime
    font_face: int = 0
    fade_in: float = 0.0
    fade_out: float = 0.0
    style: str = ""  # box | outline | shadow | none; "": as `box` says


@dataclass(frozen=True)
class AssetView:
    """An item as callers see it: its columns (the probed ones are `MediaInfo`'s facts,
    in the same order), its timeline settings, and the seconds it occupies."""

    id: str
    project_id: str
    position: int | None  # 1-based place in the timeline; None for fonts
    kind: str  # video, image, audio, title or font
    display_name: str
    timeline_duration: float  # seconds it occupies: trimmed length, or an image's duration
    duration: float | None  # probed duration of the source
    trim_start: float | None
    trim_end: float | None
    still_duration: float | None
    width: int | None
    height: int | None
    frame_rate: float | None
    rotation: int
    container: str | None
    video_codec: str | None
    pix_fmt: str | None
    has_audio: bool
    audio_codec: str | None
    sample_rate: int | None
    channels: int | None
    size_bytes: int | None  # None for titles (no file)
    sha256: str | None
    transition: str  # into the next picture item: a kind, "none" for a cut
    transition_seconds: float
    fade_in: float
    fade_out: float
    volume: float  # linear gain
    mute: bool
    duck: bool
    motion: str | None
    fit: str | None  # clips and stills: contain | cover | blur; None: the project's default
    text_count: int  # text overlays on this item (`rendercli text list ASSET`)
    title: TitleView | None  # title items: the card
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TimelineView:
    project_id: str
    project_name: str
    assets: list[AssetView]  # timeline items in position order, then fonts
    total_duration: float  # the picture timeline, transitions overlapped
    audio_duration: float  # background audio before it is cut at the end of the timeline


# The fields of a view that are not columns of its row.
_DERIVED = frozenset({"timeline_duration", "text_count", "title"})
# The assets columns: the view's own, then where the item's file is (never shown).
# tests/test_assets.py checks these are exactly the model's columns.
ASSET_COLUMNS = (*(f.name for f in fields(AssetView) if f.name not in _DERIVED), "storage_key")
_VIEW_COLUMNS = ASSET_COLUMNS[:-1]
TITLE_COLUMNS = tuple(f.name for f in fields(TitleView))
TEXT_COLUMNS = tuple(f.name for f in fields(TextView))

# Text columns are read at most this long: no value rendercli accepts comes near it (texts
# stop at 2,000 characters, names at a few hundred), and a client that writes a gigabyte
# into its own row by hand must not make the reader (a worker) hold it; the checks then
# refuse the shortened value as too long.
MAX_READ_CHARS = 4096


def _selected(view: type, names: Sequence[str], prefix: str = "") -> str:
    """The select list for ``names`` of ``view``, text columns cut in the database."""
    types = {f.name: str(f.type) for f in fields(view)}
    return ", ".join(
        f"substr({prefix}{name}, 1, {MAX_READ_CHARS + 1}) AS {name}"
        if types.get(name, "").startswith("str") else f"{prefix}{name}" for name in names)


# A project's items, their title cards and their texts, by project id. The project id
# comes from `owned_project_id` (ownership is checked there, once).
ITEMS_SQL = ("SELECT " + _selected(AssetView, _VIEW_COLUMNS) + ", storage_key FROM assets"
             " WHERE project_id = :project_id")
TITLES_SQL = (
    "SELECT t.asset_id, " + _selected(TitleView, TITLE_COLUMNS, "t.") + " FROM asset_titles"
    " AS t JOIN assets AS a ON a.id = t.asset_id WHERE a.project_id = :project_id"
)
TEXTS_SQL = (
    "SELECT " + _selected(TextView, TEXT_COLUMNS, "t.") + " FROM asset_texts AS t"
    " JOIN assets AS a ON a.id = t.asset_id WHERE a.project_id = :project_id"
    " ORDER BY t.asset_id, t.position"
)


def _typed(cls: type, row: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """`names` of a plain-SQL row as the view's field types say (SQLite keeps booleans
    as 0/1 and timestamps as naive text)."""
    types = {f.name: f.type for f in fields(cls)}
    out = {}
    for name in names:
        value, kind = row[name], types.get(name)
        if kind == "bool":
            value = as_bool(value)
        elif kind in ("datetime", "datetime | None"):
            value = as_datetime(value)
        out[name] = value
    return out


class ItemRow:
    """An item read by plain SQL (`read_items`): the attributes of an `Asset` row that
    views and the render's timeline read, with its card (`TitleView`) and its texts
    (`TextView`, in drawing order)."""

    def __init__(self, values: Mapping[str, Any], title: TitleView | None,
                 texts: list[TextView]) -> None:
        self.__dict__.update(values)
        self.title = title
        self.texts = texts


def read_items(rows: Rows, project_id: str) -> list[ItemRow]:
    """Every item of a project (timeline order, then fonts) with titles and texts, in
    three plain-SQL queries: what `asset list`, `render frame` and the render read."""
    # Rows are read up to one past their limit (a hand-written project may hold millions):
    # more than that is refused here, before anything is built from them.
    found = rows.all(ITEMS_SQL + " LIMIT :limit", project_id=project_id, limit=MAX_ITEMS + 1)
    if len(found) > MAX_ITEMS:
        raise InvalidInput(f"the project has more than {MAX_ITEMS} items; at most "
                           f"{MAX_ITEMS} are allowed")
    most_texts = MAX_ITEMS * MAX_TEXTS_PER_ITEM
    cards = {row["asset_id"]: TitleView(**{c: row[c] for c in TITLE_COLUMNS})
             for row in rows.all(TITLES_SQL + " LIMIT :limit", project_id=project_id,
                                 limit=MAX_ITEMS + 1)}
    texts: dict[str, list[TextView]] = {}
    text_rows = rows.all(TEXTS_SQL + " LIMIT :limit", project_id=project_id,
                         limit=most_texts + 1)
    if len(text_rows) > most_texts:
        raise InvalidInput(f"the project has more than {most_texts} texts; at most "
                           f"{MAX_TEXTS_PER_ITEM} per item are allowed")
    for row in text_rows:
        texts.setdefault(row["asset_id"], []).append(
            TextView(**_typed(TextView, row, TEXT_COLUMNS)))
    items = [ItemRow({**_typed(AssetView, row, _VIEW_COLUMNS), "storage_key": row["storage_key"]},
                     cards.get(row["id"]), texts.get(row["id"], []))
             for row in found]
    return sorted(items, key=_order)


def timeline_duration(asset: Asset | ItemRow) -> float:
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


def asset_view(asset: Asset | ItemRow) -> AssetView:
    """The view of a row (an ORM row's texts and title are loaded if they are not yet)."""
    values = {name: getattr(asset, name) for name in _VIEW_COLUMNS}
    card = asset.title
    title = None if card is None else TitleView(**{c: getattr(card, c) for c in TITLE_COLUMNS})
    return AssetView(timeline_duration=round(timeline_duration(asset), 6),
                     text_count=len(asset.texts), title=title, **values)


def picture_duration(rows: Sequence[Asset | ItemRow]) -> float:
    """Seconds of picture: item durations less the transitions that overlap them."""
    pictures = [a for a in sorted(rows, key=_order) if a.kind in PICTURE_KINDS]
    total = sum(timeline_duration(a) for a in pictures)
    overlaps = sum(a.transition_seconds for a in pictures[:-1] if a.transition != "none")
    return max(0.0, total - overlaps)


def _order(asset: Asset | ItemRow) -> tuple[int, int]:
    return (1, 0) if asset.position is None else (0, asset.position)


def load_items(uow: UnitOfWork, project_id: str) -> list[Asset]:
    """Every item of a project as ORM rows to change, timeline order then fonts, with
    titles and texts loaded (`read_items` reads them without the ORM)."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from rendercli.db.models import Asset

    rows = uow.session.scalars(
        select(Asset)
        .where(Asset.project_id == project_id)
        .options(selectinload(Asset.title), selectinload(Asset.texts))
    ).all()
    return sorted(rows, key=_order)


def load_items_of(uow: UnitOfWork, project_ids: list[str]) -> dict[str, list[Asset]]:
    """``load_items`` for several projects in one query (a batch's chunk)."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from rendercli.db.models import Asset

    rows = uow.session.scalars(
        select(Asset)
        .where(Asset.project_id.in_(project_ids))
        .options(selectinload(Asset.title), selectinload(Asset.texts))
    ).all()
    found: dict[str, list[Asset]] = {pid: [] for pid in project_ids}
    for row in rows:
        found[row.project_id].append(row)
    return {pid: sorted(items, key=_order) for pid, items in found.items()}


def find_item(uow: UnitOfWork, user_id: str, asset_id: str, *, what: str = "asset") -> Asset:
    """One of the user's items by id; ownership is part of the query."""
    from sqlalchemy import select

    from rendercli.db.models import Asset, Project

    asset = uow.session.scalars(
        select(Asset).join(Project).where(Asset.id == asset_id, Project.owner_id == user_id)
    ).first()
    if asset is None:
        raise NotFound(f"{what} not found: {asset_id}")
    return asset


def lock_project(uow: UnitOfWork, project: Project) -> None:
    """Serialise changes to one timeline.

    Writing first takes the row lock (PostgreSQL) or the write lock (SQLite) before we
    read positions, so concurrent edits of one timeline serialise instead of colliding.
    """
    from sqlalchemy import update

    from rendercli.db.models import Project

    uow.session.execute(update(Project).where(Project.id == project.id).values(updated_at=utcnow()))


def count_positions(uow: UnitOfWork, project_id: str) -> int:
    """How many items are on the timeline (fonts are not)."""
    from sqlalchemy import func, select

    from rendercli.db.models import Asset

    return uow.session.scalar(
        select(func.count()).select_from(Asset)
        .where(Asset.project_id == project_id, Asset.position.is_not(None))
    ) or 0


def shift_positions(
    uow: UnitOfWork, project_id: str, from_position: int, by: int, to_position: int | None = None
) -> None:
    """Move the items at ``from_position``..``to_position`` (inclusive) by ``by`` places."""
    from sqlalchemy import update

    from rendercli.db.models import Asset

    query = update(Asset).where(Asset.project_id == project_id, Asset.position >= from_position)
    if to_position is not None:
        query = query.where(Asset.position <= to_position)
    uow.session.execute(query.values(position=Asset.position + by))


def check_position(position: int | None, count: int, adding: int) -> int:
    """The place for new or moved items: ``position`` checked, or after the last one."""
    last = count + 1 if adding else count
    if position is None:
        return last
    if not 1 <= position <= last:
        raise InvalidInput(f"--position must be between 1 and {last}")
    return position


def move(uow: UnitOfWork, asset: Asset, position: int) -> None:
    """Move a timeline item to ``position``; the others close up around it."""
    if asset.position is None:
        raise InvalidInput(f"{asset.display_name}: fonts are not on the timeline; "
                           "they have no position")
    target = check_position(position, count_positions(uow, asset.project_id), adding=0)
    current = asset.position
    if target < current:
        shift_positions(uow, asset.project_id, target, 1, to_position=current - 1)
    elif target > current:
        shift_positions(uow, asset.project_id, current + 1, -1, to_position=target)
    asset.position = target


def close_gap(uow: UnitOfWork, project_id: str, removed_position: int | None) -> None:
    """Renumber the items after a removed one."""
    if removed_position is not None:
        shift_positions(uow, project_id, removed_position + 1, -1)


def resolve_font(uow: UnitOfWork, project_id: str, ref: str) -> str | None:
    """The id of the project's font named by ``ref`` (its id or exact file name);
    None for ``default`` (the font shipped with rendercli). Another project's or user's
    font is not found."""
    if ref == DEFAULT_FONT:
        return None
    from sqlalchemy import or_, select

    from rendercli.db.models import Asset

    rows = uow.session.scalars(
        select(Asset).where(Asset.project_id == project_id, Asset.kind == "font",
                            or_(Asset.id == ref, Asset.display_name == ref))
    ).all()
    if not rows:
        raise NotFound(f"font not found in this project: {ref} (add it with "
                       "`rendercli asset add PROJECT FONT.ttf`)")
    exact = [r for r in rows if r.id == ref]
    if not exact and len(rows) > 1:
        raise InvalidInput(f"several fonts are named {ref!r}: use the asset id")
    return (exact or rows)[0].id


def font_users(uow: UnitOfWork, font_id: str) -> tuple[int, int]:
    """How many titles and text overlays use a font."""
    from sqlalchemy import func, select

    from rendercli.db.models import AssetText, AssetTitle

    titles = uow.session.scalar(
        select(func.count()).select_from(AssetTitle).where(AssetTitle.font_id == font_id))
    texts = uow.session.scalar(
        select(func.count()).select_from(AssetText).where(AssetText.font_id == font_id))
    return titles or 0, texts or 0


def one_line(text: str, limit: int = 80) -> str:
    """Text as one printable line (for names and tables): breaks and controls become
    spaces, long text ends with an ellipsis."""
    import unicodedata

    cleaned = " ".join(
        "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs") else ch
                for ch in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "\u2026"
