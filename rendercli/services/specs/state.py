"""Both sides of a plan as :class:`~rendercli.services.specs.plan.Item` lists: a spec's
entries (``desired``) and a project's rows (``current``).

Settings are compared as the database keeps them, so each side is normalised the same
way: a trim at the clip's end is no trim, a still shown
for the default time says so, a transition is ``KIND:SECONDS`` or ``none``, fonts are
their SHA-256. ``changes`` turns an item's settings back into columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rendercli.render.timeline import (
    DEFAULT_FIT,
    DEFAULT_STILL_SECONDS,
    DEFAULT_TITLE_SECONDS,
    DURATION_TOLERANCE,
    FIT_ALIASES,
    PICTURE_KINDS,
)
from rendercli.services.specs.plan import Item

if TYPE_CHECKING:
    from rendercli.media.info import MediaInfo
    from rendercli.repositories.items import ItemRow
    from rendercli.specfile.model import MediaItem, MusicItem, Spec, TextOverlay, TitleCard


def volume_setting(gain: float, written: str | None = None) -> float | str:
    """A volume as the plan compares and shows it: decibels as written (``-3dB``: a
    row's volume_text, or a spec's `Decibels`), else the gain."""
    written = written or getattr(gain, "written", None)
    return written if written else float(gain)


def volume_columns(setting: float | str) -> dict[str, Any]:
    """The assets columns of a volume setting (`volume_setting`)."""
    from rendercli.render.timeline import parse_volume, volume_as_written

    if isinstance(setting, str):
        return {"volume": parse_volume(setting), "volume_text": volume_as_written(setting)}
    return {"volume": float(setting), "volume_text": None}


def seconds(value: float | None) -> float | None:
    """A number of seconds (or a gain) as a float; None stays None. Kept exact: the plan
    compares numbers to the microsecond (``plan.same``)."""
    return None if value is None else float(value)


def _number_text(value: float) -> str:
    return format(round(value, 6), ".6f").rstrip("0").rstrip(".")


def transition_text(kind: str | None, length: float | None) -> str:
    """``none`` or ``KIND:SECONDS``."""
    if kind is None or kind == "none" or not length:
        return "none"
    return f"{kind}:{_number_text(length)}"


def parse_transition_text(text: str) -> tuple[str, float]:
    kind, _, length = text.partition(":")
    return ("none", 0.0) if kind == "none" else (kind, float(length))


def _trims(start: float | None, end: float | None, length: float | None
           ) -> tuple[float | None, float | None]:
    total = length or 0.0
    start = seconds(start) or None
    end = None if end is None or end >= total - DURATION_TOLERANCE else seconds(end)
    return start, end


@dataclass(frozen=True)
class MediaSource:
    """A spec's file, as an item's source: where it is, what it is."""

    path: Path  # validated real path
    spec_text: str  # the path as written in the spec (filled in)
    sha256: str
    size: int
    info: MediaInfo | None  # None for fonts
    name: str | None = None  # content referenced by hash: its stored name

    @property
    def shown(self) -> str:
        from rendercli.media.validate import safe_display_name

        return self.name or safe_display_name(Path(self.spec_text))


# ---------------------------------------------------------------- the spec's side


def desired(spec: Spec, files: Mapping[tuple[Any, ...], MediaSource]) -> dict[str, list[Item]]:
    """The items a (filled-in) spec asks for. ``files`` maps each path field of the spec
    (``("timeline", 1, "media")``) to its file."""
    from rendercli.specfile.model import TitleCard

    fonts: dict[str, Item] = {}

    def font(where: tuple[Any, ...], given: str | None) -> str | None:
        if given is None:
            return None
        source = files[where]
        fonts.setdefault(source.sha256, Item(("font", source.sha256), "font", source.shown,
                                             {}, source=source))
        return source.sha256

    def texts(at: tuple[Any, ...], overlays: Sequence[TextOverlay]) -> list[dict[str, Any]]:
        return [{"text": o.text, "at": seconds(o.at), "for": seconds(o.for_),
                 "placement": o.placement, "size": o.size, "color": o.color, "box": o.box,
                 "font": font((*at, "text", k, "font"), o.font), "face": int(o.face),
                 "style": o.style or "", "text_fade": [seconds(o.fade_in),
                                                       seconds(o.fade_out)]}
                for k, o in enumerate(overlays)]

    timeline: list[Item] = []
    for index, entry in enumerate(spec.timeline):
        at = ("timeline", index)
        transition = entry.transition
        common = {
            "transition": transition_text(transition.kind if transition else None,
                                          transition.duration if transition else None),
            "fade_in": seconds(entry.fade_in), "fade_out": seconds(entry.fade_out),
            "texts": texts(at, entry.text),
        }
        if isinstance(entry, TitleCard):
            timeline.append(_title_item(entry, common, font((*at, "font"), entry.font)))
            continue
        fit = entry.fit or spec.fit or DEFAULT_FIT
        common["fit"] = FIT_ALIASES.get(fit, fit)
        timeline.append(_media_item(entry, files[(*at, "media")], common))
    music = [_music_item(m, files[("music", k, "media")]) for k, m in enumerate(spec.music)]
    return {"timeline": timeline, "music": music, "fonts": list(fonts.values())}


def _title_item(entry: TitleCard, common: dict[str, Any], font_sha: str | None) -> Item:
    from rendercli.services.items import one_line

    settings = {"duration": seconds(entry.duration), "background": entry.background,
                "color": entry.color, "size": entry.size, "font": font_sha,
                "face": int(entry.face), "style": entry.style,
                "text_fade": [seconds(entry.text_fade_in), seconds(entry.text_fade_out)],
                **common}
    return Item(("title", entry.title), "title", one_line(entry.title), settings,
                source=entry.title)


def _media_item(entry: MediaItem, source: MediaSource, common: dict[str, Any]) -> Item:

    info = source.info
    kind = info.kind if info is not None else "video"
    settings: dict[str, Any]
    if kind == "image":
        settings = {"duration": seconds(entry.duration or DEFAULT_STILL_SECONDS),
                    "motion": entry.motion, **common}
    else:
        start, end = _trims(entry.trim_start, entry.trim_end, info.duration if info else None)
        settings = {"trim_start": start, "trim_end": end, "volume": volume_setting(entry.volume),
                    "mute": entry.mute, **common}
    return Item(("media", source.sha256, kind), kind, source.shown, settings, source=source)


def _music_item(entry: MusicItem, source: MediaSource) -> Item:

    info = source.info
    start, end = _trims(entry.trim_start, entry.trim_end, info.duration if info else None)
    settings = {"trim_start": start, "trim_end": end, "volume": volume_setting(entry.volume),
                "mute": entry.mute, "duck": entry.duck, "fade_in": seconds(entry.fade_in),
                "fade_out": seconds(entry.fade_out)}
    return Item(("media", source.sha256, "audio"), "audio", source.shown, settings,
                source=source)


# ---------------------------------------------------------------- the project's side


def current(rows: Sequence[ItemRow], default_fit: str = DEFAULT_FIT) -> dict[str, list[Item]]:
    """The items of a project's rows (loaded with their titles and texts); a clip or
    still without a fit of its own has the project's ``default_fit``."""
    font_sha = {a.id: a.sha256 for a in rows if a.kind == "font"}
    ordered = sorted((a for a in rows if a.position is not None), key=lambda a: a.position)
    return {
        "timeline": [_row_item(a, font_sha, default_fit) for a in ordered
                     if a.kind in PICTURE_KINDS],
        "music": [_row_item(a, font_sha) for a in ordered if a.kind == "audio"],
        "fonts": [Item(("font", a.sha256), "font", a.display_name, {}, row_id=a.id)
                  for a in rows if a.kind == "font"],
    }


def _row_item(asset: ItemRow, font_sha: Mapping[str, str | None],
              default_fit: str = DEFAULT_FIT) -> Item:
    def font(font_id: str | None) -> str | None:
        return None if font_id is None else font_sha.get(font_id, f"missing:{font_id}")

    common = {
        "transition": transition_text(asset.transition, asset.transition_seconds),
        "fade_in": seconds(asset.fade_in), "fade_out": seconds(asset.fade_out),
        "texts": [{"text": t.text, "at": seconds(t.start), "for": seconds(t.duration),
                   "placement": t.placement, "size": t.size, "color": t.color, "box": t.box,
                   "font": font(t.font_id), "face": t.font_face, "style": t.style,
                   "text_fade": [seconds(t.fade_in), seconds(t.fade_out)]}
                  for t in asset.texts],
    }
    kind = asset.kind
    settings: dict[str, Any]
    if kind == "title":
        card = asset.title
        text = card.text if card is not None else ""
        settings = {"duration": seconds(asset.still_duration or DEFAULT_TITLE_SECONDS),
                    "background": card.background if card else None,
                    "color": card.color if card else None,
                    "size": card.size if card else None,
                    "font": font(card.font_id) if card else None,
                    "face": card.font_face if card else 0,
                    "style": card.style if card else "none",
                    "text_fade": ([seconds(card.fade_in), seconds(card.fade_out)] if card
                                  else [0.0, 0.0]), **common}
        return Item(("title", text), kind, asset.display_name, settings, row_id=asset.id)
    if kind in ("image", "video"):
        common["fit"] = asset.fit or default_fit
    if kind == "image":
        settings = {"duration": seconds(asset.still_duration or DEFAULT_STILL_SECONDS),
                    "motion": asset.motion, **common}
    elif kind == "video":
        settings = {"trim_start": seconds(asset.trim_start) or None,
                    "trim_end": seconds(asset.trim_end),
                    "volume": volume_setting(asset.volume, asset.volume_text),
                    "mute": asset.mute, **common}
    else:
        settings = {"trim_start": seconds(asset.trim_start) or None,
                    "trim_end": seconds(asset.trim_end),
                    "volume": volume_setting(asset.volume, asset.volume_text),
                    "mute": asset.mute, "duck": asset.duck, "fade_in": seconds(asset.fade_in),
                    "fade_out": seconds(asset.fade_out)}
    return Item(("media", asset.sha256, kind), kind, asset.display_name, settings,
                row_id=asset.id)


# ---------------------------------------------------------------- settings to columns


@dataclass(frozen=True)
class RowChanges:
    """What an item's rows become (``changes``)."""

    columns: dict[str, Any]  # of its assets row
    card: dict[str, Any] | None  # a title's card (asset_titles columns), else None
    texts: list[dict[str, Any]] | None  # its texts in order (asset_texts); None: unchanged


def changes(row: Any | None, item: Item, font_id: Callable[[str | None], str | None],
            default_fit: str | None = None) -> RowChanges:
    """An item row's timeline settings (and title card, and texts) from ``item``, over
    ``row`` as read (None: a new row); a fit equal to the project's ``default_fit`` is
    stored as "the project's" (None)."""
    s = item.settings
    kind = item.kind
    columns: dict[str, Any] = {}
    if kind in ("image", "title"):
        columns["still_duration"] = s["duration"]
    if kind in ("video", "audio"):
        columns.update(trim_start=s["trim_start"], trim_end=s["trim_end"],
                       mute=s["mute"], **volume_columns(s["volume"]))
    columns["duck"] = bool(s.get("duck", False))
    columns["motion"] = s.get("motion")
    if kind in ("image", "video"):
        fit = s.get("fit") or DEFAULT_FIT
        columns["fit"] = None if fit == (default_fit or DEFAULT_FIT) else fit
    columns["fade_in"], columns["fade_out"] = s["fade_in"], s["fade_out"]
    columns["transition"], columns["transition_seconds"] = parse_transition_text(
        s.get("transition", "none"))
    card = None
    if kind == "title":
        card = {"text": str(item.source), "background": s["background"], "color": s["color"],
                "size": s["size"], "font_id": font_id(s["font"]), "font_face": s["face"],
                "style": s["style"], "fade_in": s["text_fade"][0],
                "fade_out": s["text_fade"][1]}
        columns["display_name"] = item.name
    texts = None
    if kind in PICTURE_KINDS:
        wanted = s["texts"]
        had = [] if row is None else [_text_settings(t) for t in row.texts]
        if had != [_text_settings_from(w, font_id) for w in wanted]:
            texts = [{"text": w["text"], "start": w["at"], "duration": w["for"],
                      "placement": w["placement"], "size": w["size"], "color": w["color"],
                      "box": w["box"], "font_id": font_id(w["font"]), "font_face": w["face"],
                      "style": w["style"], "fade_in": w["text_fade"][0],
                      "fade_out": w["text_fade"][1]} for w in wanted]
    return RowChanges(columns, card, texts)


def _text_settings(row: Any) -> tuple[Any, ...]:
    return (row.text, seconds(row.start), seconds(row.duration), row.placement, row.size,
            row.color, bool(row.box), row.font_id, row.font_face, row.style,
            [seconds(row.fade_in), seconds(row.fade_out)])


def _text_settings_from(w: Mapping[str, Any], font_id: Callable[[str | None], str | None]
                        ) -> tuple[Any, ...]:
    return (w["text"], w["at"], w["for"], w["placement"], w["size"], w["color"], w["box"],
            font_id(w["font"]), w["face"], w["style"], list(w["text_fade"]))
