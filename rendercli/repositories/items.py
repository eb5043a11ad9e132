"""The timeline's rows: assets (media, title cards, fonts) with their titles and texts.

The one home of their queries and ownership rules, in plain SQL over `Rows`: reading a
project's timeline (three statements however many items), finding a caller's item or
text, positions (1..N over the timeline items; fonts have none), fonts, and the
inserts, updates and deletes. A project id given here was checked by the caller
(`services.projects.owned_project`); an item or text id is looked up with its owner.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from rendercli.db.clock import utcnow
from rendercli.db.ids import new_id
from rendercli.db.rows import Rows, as_bool, as_datetime, in_lists, insert
from rendercli.errors import InvalidInput, NotFound
from rendercli.render.timeline import MAX_ITEMS, MAX_TEXTS_PER_ITEM
from rendercli.repositories import prefixes

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
    volume_text: str | None  # the volume as written when in decibels ("-3dB"), else None
    mute: bool
    duck: bool
    motion: str | None
    fit: str | None  # clips and stills: contain | cover | blur; None: the project's default
    text_count: int  # text overlays on this item (`rendercli text list ASSET`)
    title: TitleView | None  # title items: the card
    created_at: datetime
    updated_at: datetime


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
    """An item as read (`read_items`, `owned_item`) or about to be written (`new_item`):
    the columns of its `assets` row as attributes, with its card (`TitleView`) and its
    texts (`TextView`, in drawing order). Services change the attributes, then write
    them with `update_item`."""

    def __init__(self, values: Mapping[str, Any], title: TitleView | None,
                 texts: list[TextView]) -> None:
        self.__dict__.update(values)
        self.title = title
        self.texts = texts


_ITEMS_SQL = ("SELECT " + _selected(AssetView, _VIEW_COLUMNS, "a.") + ", a.storage_key"
              " FROM assets AS a WHERE ")
_TITLES_SQL = ("SELECT t.asset_id, " + _selected(TitleView, TITLE_COLUMNS, "t.")
               + " FROM asset_titles AS t JOIN assets AS a ON a.id = t.asset_id WHERE ")
_TEXTS_SQL = ("SELECT " + _selected(TextView, TEXT_COLUMNS, "t.") + ", a.project_id"
              " FROM asset_texts AS t JOIN assets AS a ON a.id = t.asset_id WHERE ")
# The one ownership rule of items: the item's project is the caller's.
_OWNED = "a.project_id IN (SELECT id FROM projects WHERE owner_id = :user_id)"


def _read(rows: Rows, where: str, params: Mapping[str, Any], projects: int) -> list[ItemRow]:
    """Items matching `where` (over `a`, the assets row) with cards and texts, in three
    statements. Rows are read up to one past their limit (a hand-written project may
    hold millions): more than that is refused here, before anything is built from them."""
    most_items = projects * MAX_ITEMS
    found = rows.all(_ITEMS_SQL + where + " LIMIT :limit", **params, limit=most_items + 1)
    counts = Counter(row["project_id"] for row in found)
    if len(found) > most_items or any(n > MAX_ITEMS for n in counts.values()):
        raise InvalidInput(f"the project has more than {MAX_ITEMS} items; at most "
                           f"{MAX_ITEMS} are allowed")
    most_texts = most_items * MAX_TEXTS_PER_ITEM
    cards = {row["asset_id"]: TitleView(**{c: row[c] for c in TITLE_COLUMNS})
             for row in rows.all(_TITLES_SQL + where + " LIMIT :limit", **params,
                                 limit=most_items + 1)}
    text_rows = rows.all(_TEXTS_SQL + where + " ORDER BY t.asset_id, t.position LIMIT :limit",
                         **params, limit=most_texts + 1)
    if len(text_rows) > most_texts:
        raise InvalidInput(f"the project has more than {MAX_ITEMS * MAX_TEXTS_PER_ITEM} texts;"
                           f" at most {MAX_TEXTS_PER_ITEM} per item are allowed")
    texts: dict[str, list[TextView]] = {}
    for row in text_rows:
        texts.setdefault(row["asset_id"], []).append(
            TextView(**_typed(TextView, row, TEXT_COLUMNS)))
    items = [ItemRow({**_typed(AssetView, row, _VIEW_COLUMNS), "storage_key": row["storage_key"]},
                     cards.get(row["id"]), texts.get(row["id"], []))
             for row in found]
    return sorted(items, key=timeline_order)


def timeline_order(item: Any) -> tuple[int, int]:
    """Sort key: timeline items by position, then fonts."""
    return (1, 0) if item.position is None else (0, item.position)


def read_items(rows: Rows, project_id: str) -> list[ItemRow]:
    """Every item of a project (timeline order, then fonts) with titles and texts, in
    three statements: what `asset list`, `render frame`, the checks and the render read."""
    return _read(rows, "a.project_id = :project_id", {"project_id": project_id}, 1)


def read_items_of(rows: Rows, project_ids: Sequence[str]) -> dict[str, list[ItemRow]]:
    """`read_items` for several projects: the same three statements for each CHUNK of
    them (a batch may hold 10,000)."""
    found: dict[str, list[ItemRow]] = {pid: [] for pid in project_ids}
    for listed, params in in_lists(list(found)):
        for item in _read(rows, f"a.project_id IN {listed}", params, len(params)):
            found[item.project_id].append(item)
    return found


def stored_content(rows: Rows, user_id: str, sha256: str) -> tuple[int, str] | None:
    """The size and name of content with this SHA-256 in the user's projects, if any."""
    found = rows.one("SELECT a.size_bytes, a.display_name FROM assets AS a WHERE "
                     "a.sha256 = :sha AND " + _OWNED + " LIMIT 1", user_id=user_id,
                     sha=sha256)
    if found is None or found["size_bytes"] is None:
        return None
    return int(found["size_bytes"]), str(found["display_name"])


def owned_item(rows: Rows, user_id: str, item_id: str, *, what: str = "asset") -> ItemRow:
    """One of the caller's items by id, with its card and texts; another's is not found."""
    whole = prefixes.full_id(rows, "asset", user_id, item_id)
    found = _read(rows, "a.id = :item_id AND " + _OWNED,
                  {"item_id": whole, "user_id": user_id}, 1)
    if not found:
        raise NotFound(f"{what} not found: {item_id}")
    return found[0]


def owned_item_at(rows: Rows, user_id: str, project_id: str, position: int) -> ItemRow | None:
    """The caller's item at a timeline position (1-based) of a project, or None."""
    found = _read(rows, "a.project_id = :project_id AND a.position = :position AND " + _OWNED,
                  {"project_id": project_id, "position": position, "user_id": user_id}, 1)
    return found[0] if found else None


def owned_text(rows: Rows, user_id: str, text_id: str) -> tuple[TextView, str]:
    """One of the caller's text overlays by id, and its item's project; another's is
    not found."""
    found = rows.one(_TEXTS_SQL + "t.id = :text_id AND " + _OWNED,
                     text_id=prefixes.full_id(rows, "text", user_id, text_id), user_id=user_id)
    if found is None:
        raise NotFound(f"text not found: {text_id}")
    return TextView(**_typed(TextView, found, TEXT_COLUMNS)), found["project_id"]


def lock_projects(rows: Rows, *project_ids: str) -> None:
    """Serialise changes to these timelines: writing first takes the row locks
    (PostgreSQL) or the write lock (SQLite) before positions are read, so concurrent
    edits of one timeline wait for each other instead of colliding."""
    for listed, params in in_lists(project_ids):
        rows.run(f"UPDATE projects SET updated_at = :now WHERE id IN {listed}", now=utcnow(),
                 **params)


def count_positions(rows: Rows, project_id: str) -> int:
    """How many items are on the timeline (fonts are not)."""
    return int(rows.scalar("SELECT count(*) FROM assets WHERE project_id = :project_id"
                           " AND position IS NOT NULL", project_id=project_id) or 0)


def shift_positions(rows: Rows, project_id: str, from_position: int, by: int,
                    to_position: int | None = None) -> None:
    """Move the items at ``from_position``..``to_position`` (inclusive) by ``by`` places."""
    sql = ("UPDATE assets SET position = position + :by WHERE project_id = :project_id"
           " AND position >= :from_position")
    params: dict[str, Any] = {"by": by, "project_id": project_id, "from_position": from_position}
    if to_position is not None:
        sql, params["to_position"] = sql + " AND position <= :to_position", to_position
    rows.run(sql, **params)


def check_position(position: int | None, count: int, adding: int) -> int:
    """The place for new or moved items: ``position`` checked, or after the last one."""
    last = count + 1 if adding else count
    if position is None:
        return last
    if not 1 <= position <= last:
        raise InvalidInput(f"--position must be between 1 and {last}")
    return position


def move_item(rows: Rows, item: ItemRow, position: int) -> None:
    """Move a timeline item to ``position`` (the others close up around it); the item's
    own new position is set on `item`, for `update_item` to write."""
    if item.position is None:
        raise InvalidInput(f"{item.display_name}: fonts are not on the timeline; "
                           "they have no position")
    target = check_position(position, count_positions(rows, item.project_id), adding=0)
    current = item.position
    if target < current:
        shift_positions(rows, item.project_id, target, 1, to_position=current - 1)
    elif target > current:
        shift_positions(rows, item.project_id, current + 1, -1, to_position=target)
    item.position = target


def close_gap(rows: Rows, project_id: str, removed_position: int | None) -> None:
    """Renumber the items after a removed one."""
    if removed_position is not None:
        shift_positions(rows, project_id, removed_position + 1, -1)


def resolve_font(rows: Rows, project_id: str, ref: str) -> str | None:
    """The id of the project's font named by ``ref`` (its id or exact file name);
    None for ``default`` (the font shipped with rendercli). Another project's or user's
    font is not found."""
    if ref == DEFAULT_FONT:
        return None
    found = rows.all("SELECT id FROM assets WHERE project_id = :project_id AND kind = 'font'"
                     " AND (id = :ref OR display_name = :ref) ORDER BY id LIMIT 3",
                     project_id=project_id, ref=ref)
    if not found:
        raise NotFound(f"font not found in this project: {ref} (add it with "
                       "`rendercli asset add PROJECT FONT.ttf`)")
    exact = [r for r in found if r["id"] == ref]
    if not exact and len(found) > 1:
        raise InvalidInput(f"several fonts are named {ref!r}: use the asset id")
    return str((exact or found)[0]["id"])


def font_users(rows: Rows, font_id: str) -> tuple[int, int]:
    """How many titles and text overlays use a font."""
    found = rows.one("SELECT (SELECT count(*) FROM asset_titles WHERE font_id = :id) AS titles,"
                     " (SELECT count(*) FROM asset_texts WHERE font_id = :id) AS texts",
                     id=font_id)
    assert found is not None
    return int(found["titles"] or 0), int(found["texts"] or 0)


# What the schema's defaults give a new assets row (rendercli.db.models.Asset).
_ITEM_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(ASSET_COLUMNS), "rotation": 0, "has_audio": False, "transition": "none",
    "transition_seconds": 0.0, "fade_in": 0.0, "fade_out": 0.0, "volume": 1.0,
    "mute": False, "duck": False}


def new_item(values: Mapping[str, Any], title: TitleView | None = None) -> ItemRow:
    """An item not yet written: `values` over the schema's defaults, a new id, now."""
    now = utcnow()
    return ItemRow({**_ITEM_DEFAULTS, "id": new_id(), "created_at": now, "updated_at": now,
                    **values}, title, [])


def insert_item(rows: Rows, item: ItemRow) -> None:
    """Write a new item (from `new_item`) and its card (over `Inserts`: when it flushes)."""
    insert(rows, "assets", {name: getattr(item, name) for name in ASSET_COLUMNS})
    if item.title is not None:
        insert(rows, "asset_titles", {"asset_id": item.id, **asdict(item.title)})


# What `update_item` writes: the timeline settings and names a change may touch.
_SETTINGS = ("position", "display_name", "trim_start", "trim_end", "still_duration",
             "transition", "transition_seconds", "fade_in", "fade_out", "volume",
             "volume_text", "mute",
             "duck", "motion", "fit", "updated_at")


def update_item(rows: Rows, item: ItemRow, values: Mapping[str, Any] | None = None) -> None:
    """Write an item as `item` holds it, with `values` (columns of assets: a spec may
    give it another file) set on it first: its settings, those columns and its card
    (made if missing), stamped now."""
    values = dict(values or {})
    if not set(values) <= set(ASSET_COLUMNS) - {"id"}:
        raise ValueError(f"not columns of an item to change: {sorted(values)}")
    item.__dict__.update(values, updated_at=utcnow())
    names = dict.fromkeys((*_SETTINGS, *values))
    rows.run("UPDATE assets SET " + ", ".join(f"{n} = :{n}" for n in names)
             + " WHERE id = :id", id=item.id, **{n: getattr(item, n) for n in names})
    if item.title is not None:
        card = asdict(item.title)
        if not rows.run("UPDATE asset_titles SET " + ", ".join(f"{n} = :{n}" for n in card)
                        + " WHERE asset_id = :asset_id", asset_id=item.id, **card):
            insert(rows, "asset_titles", {"asset_id": item.id, **card})


def delete_item(rows: Rows, item_id: str) -> None:
    """Delete an item; its card and texts go with it (ON DELETE CASCADE)."""
    rows.run("DELETE FROM assets WHERE id = :id", id=item_id)


def replace_texts(rows: Rows, item_id: str, texts: Sequence[Mapping[str, Any]], *,
                  had: bool = True) -> None:
    """An item's texts become `texts` (each its settings' columns), in drawing order
    (`had`: it may have some already; over `Inserts`, the new ones wait for its flush)."""
    if had:
        rows.run("DELETE FROM asset_texts WHERE asset_id = :id", id=item_id)
    now = utcnow()
    insert(rows, "asset_texts", *({"id": new_id(), "asset_id": item_id, "position": position,
                                   "created_at": now, **text}
                                  for position, text in enumerate(texts, 1)))


def insert_text(rows: Rows, asset_id: str, values: Mapping[str, Any]) -> TextView:
    """Add a text overlay after the item's last one."""
    last = rows.scalar("SELECT max(position) FROM asset_texts WHERE asset_id = :asset_id",
                       asset_id=asset_id)
    text = TextView(**{"id": new_id(), "asset_id": asset_id, "position": int(last or 0) + 1,
                       "created_at": utcnow(), **values})
    insert(rows, "asset_texts", asdict(text))
    return text


def update_text(rows: Rows, text: TextView) -> None:
    """Write a text overlay's values (its id, item, position and creation stay)."""
    values = {k: v for k, v in asdict(text).items()
              if k not in ("asset_id", "position", "created_at")}
    rows.run("UPDATE asset_texts SET " + ", ".join(f"{n} = :{n}" for n in values if n != "id")
             + " WHERE id = :id", **values)


def delete_text(rows: Rows, text: TextView) -> None:
    """Delete a text overlay; the item's later texts move up one place."""
    rows.run("DELETE FROM asset_texts WHERE id = :id", id=text.id)
    rows.run("UPDATE asset_texts SET position = position - 1 WHERE asset_id = :asset_id"
             " AND position > :position", asset_id=text.asset_id, position=text.position)
