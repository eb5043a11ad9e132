"""``rendercli project export``: the spec of an existing project.

Every setting that differs from the format's default is written, so ``apply`` of the
export makes an equal project (the round-trip test checks it). Media and fonts are
written as files into a folder next to the spec (``<name>-media/``), one file per
content, or, with ``by_hash``, referenced as ``sha256:<hex>`` (only the account that
holds content with that hash can apply such a spec). Texts are data: a literal ``{{``
is written as the escape ``{{{{``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rendercli.errors import InvalidInput
from rendercli.render.timeline import (
    DEFAULT_FIT,
    DEFAULT_STILL_SECONDS,
    DEFAULT_TITLE_SECONDS,
    PICTURE_KINDS,
)
from rendercli.services.projects import owned_project
from rendercli.services.specs.plan import same
from rendercli.services.specs.state import transition_text
from rendercli.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from rendercli.config import Settings
    from rendercli.repositories.items import ItemRow

HASH_PREFIX = "sha256:"


@dataclass
class Export:
    project: str
    spec: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)  # spec path -> storage key


def escape(text: str) -> str:
    """Text as a spec writes it: ``{{`` is the escape ``{{{{``."""
    return text.replace("{{", "{{{{")


def build(uow: UnitOfWork, user_id: str, project_ref: str, *, media_dir: str | None) -> Export:
    """The spec of the user's project; media as paths under ``media_dir`` (relative to
    the spec), or by hash when ``media_dir`` is None."""
    from rendercli.repositories.items import read_items
    from rendercli.services.renders.timeline import project_fit

    with uow:
        project_id, project_name = owned_project(uow.rows, user_id, project_ref)
        rows = read_items(uow.rows, project_id)
        export = Export(project_name, {})
        names: dict[str, str] = {}  # storage key -> spec path

        def ref(asset: ItemRow) -> str:
            key = asset.storage_key
            if key is None or asset.sha256 is None:
                raise InvalidInput(f"{asset.display_name}: the item has no stored file")
            if media_dir is None:
                return HASH_PREFIX + asset.sha256
            if key not in names:
                names[key] = _unique(media_dir, asset.display_name, set(names.values()))
                export.files[names[key]] = key
            return escape(names[key])

        fonts = {a.id: a for a in rows if a.kind == "font"}

        def font(font_id: str | None) -> str | None:
            return None if font_id is None else ref(fonts[font_id])

        default_fit = project_fit(uow.rows, project_id)
        timeline = [_picture(a, ref, font, default_fit) for a in rows
                    if a.kind in PICTURE_KINDS]
        if not timeline:
            raise InvalidInput(f"project {project_name} has no clips, stills or titles: a "
                               "spec needs at least one timeline item")
        music = [_music(a, ref) for a in rows if a.kind == "audio"]
        spec: dict[str, Any] = {"version": 1, "project": escape(project_name)}
        _put(spec, "fit", default_fit, DEFAULT_FIT)
        spec["timeline"] = timeline
        if music:
            spec["music"] = music
        export.spec = spec
        return export


def file_name(name: str) -> str:
    """A project name as a file name: one path component, no leading dot or dash."""
    cleaned = "".join("_" if ch in '/\\:\x00' or ord(ch) < 32 else ch for ch in name).strip()
    return cleaned.lstrip(".-") or "project"


def _unique(folder: str, name: str, taken: set[str]) -> str:
    base = "".join("_" if ch in '/\\:\x00' or ord(ch) < 32 else ch for ch in name).strip()
    if base in ("", ".", "..") or base.startswith("-"):
        base = "media" + base
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    candidate, n = f"{folder}/{base}", 2
    while candidate in taken:
        candidate = f"{folder}/{stem} ({n}){dot}{suffix}"
        n += 1
    return candidate


def _put(out: dict[str, Any], key: str, value: Any, default: Any) -> None:
    """Write ``value`` (exactly as stored) unless it is the format's default."""
    if not same(value, default):
        out[key] = value


def _texts(asset: ItemRow, font: Callable[[str | None], str | None]) -> list[Any]:
    texts = []
    for t in asset.texts:
        entry: dict[str, Any] = {"text": escape(t.text)}
        _put(entry, "at", t.start, 0.0)
        _put(entry, "for", t.duration, None)
        _put(entry, "placement", t.placement, "lower-third")
        _put(entry, "size", t.size, "medium")
        _put(entry, "color", t.color, "white")
        _put(entry, "box", t.box, True)
        _put(entry, "font", font(t.font_id), None)
        _put(entry, "face", t.font_face, 0)
        _put(entry, "style", t.style or None, None)
        _put(entry, "fade_in", t.fade_in, 0.0)
        _put(entry, "fade_out", t.fade_out, 0.0)
        texts.append(entry["text"] if len(entry) == 1 else entry)
    return texts


def _picture(asset: ItemRow, ref: Callable[[ItemRow], str],
             font: Callable[[str | None], str | None],
             default_fit: str = DEFAULT_FIT) -> dict[str, Any]:
    out: dict[str, Any]
    if asset.kind == "title":
        card = asset.title
        if card is None:
            raise InvalidInput(f"title item {asset.id} has no card")
        out = {"title": escape(card.text)}
        _put(out, "duration", asset.still_duration or DEFAULT_TITLE_SECONDS,
             DEFAULT_TITLE_SECONDS)
        _put(out, "background", card.background, "black")
        _put(out, "color", card.color, "white")
        _put(out, "size", card.size, "large")
        _put(out, "font", font(card.font_id), None)
        _put(out, "face", card.font_face, 0)
        _put(out, "style", card.style, "none")
        _put(out, "text_fade_in", card.fade_in, 0.0)
        _put(out, "text_fade_out", card.fade_out, 0.0)
    else:
        out = {"media": ref(asset)}
        if asset.kind == "image":
            _put(out, "duration", asset.still_duration or DEFAULT_STILL_SECONDS,
                 DEFAULT_STILL_SECONDS)
            _put(out, "motion", asset.motion, None)
        else:
            _put(out, "trim_start", asset.trim_start or None, None)
            _put(out, "trim_end", asset.trim_end, None)
            _put(out, "volume", asset.volume_text or asset.volume, 1.0)  # as written
            _put(out, "mute", asset.mute, False)
        _put(out, "fit", asset.fit or default_fit, default_fit)
    if transition_text(asset.transition, asset.transition_seconds) != "none":
        out["transition"] = {"kind": asset.transition, "duration": asset.transition_seconds}
    _put(out, "fade_in", asset.fade_in, 0.0)
    _put(out, "fade_out", asset.fade_out, 0.0)
    texts = _texts(asset, font)
    if texts:
        out["text"] = texts
    return out


def _music(asset: ItemRow, ref: Callable[[ItemRow], str]) -> dict[str, Any]:
    out: dict[str, Any] = {"media": ref(asset)}
    _put(out, "trim_start", asset.trim_start or None, None)
    _put(out, "trim_end", asset.trim_end, None)
    _put(out, "volume", asset.volume_text or asset.volume, 1.0)  # as written
    _put(out, "fade_in", asset.fade_in, 0.0)
    _put(out, "fade_out", asset.fade_out, 0.0)
    _put(out, "mute", asset.mute, False)
    _put(out, "duck", asset.duck, False)
    return out


def to_yaml(spec: dict[str, Any]) -> str:
    import yaml

    header = "# Written by `rendercli project export`; apply it with `rendercli apply`.\n"
    return header + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)


def object_files(export: Export, settings: Settings) -> dict[str, Path]:
    """Where each exported file's content is in the storage directory (keys checked and
    confined); with a bucket, fetched (and verified) into it first."""
    from rendercli import storage

    keys = {relative: storage.check_digest(key) for relative, key in export.files.items()}
    if settings.storage_url is not None:
        from rendercli.objectstore import object_name, open_store

        store = open_store(settings)
        return {relative: store.localize(object_name(key)) for relative, key in keys.items()}
    return {relative: storage.object_path(settings.storage_dir, key)
            for relative, key in keys.items()}
