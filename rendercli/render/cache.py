"""Content-addressed cache of segments and finished renders under ``<storage>/cache``.

Every entry is written to a temporary name in the same directory and renamed into
place only when complete, so a killed render never leaves a truncated entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from rendercli.render.pictures import fade_ranges, visible_effects
from rendercli.render.presets import BACKGROUND_GAIN, FORMAT_SPECS
from rendercli.render.timeline import (
    BED_FADE_OUT,
    PlannedItem,
    RenderSettings,
    Segment,
    TextOverlay,
    TimelineItem,
    TimelinePlan,
    parse_color,
)

# Bump when commands change in a way that changes output bytes: invalidates every entry.
ENGINE_VERSION = "3"


def _digest(payload: object) -> str:
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()


def _settings_payload(settings: RenderSettings) -> dict[str, object]:
    return {"preset": settings.preset, "fmt": settings.fmt, "fps": settings.fps,
            "quality": settings.quality}


def _font(path: object, sha: str) -> str:
    return sha if path is not None else "builtin"


def _overlay_payload(overlay: TextOverlay) -> dict[str, object]:
    return {"text": overlay.text, "start": round(overlay.start, 6),
            "duration": None if overlay.duration is None else round(overlay.duration, 6),
            "placement": overlay.placement, "size": overlay.size,
            "color": parse_color(overlay.color), "box": overlay.box,
            "font": _font(overlay.font, overlay.font_sha256)}


def picture_payload(planned: PlannedItem, first: int, count: int,
                    fps: int) -> dict[str, object]:
    """Everything that decides frames [first, first + count) of a picture item."""
    item = planned.item
    overlays, fade_in, fade_out = visible_effects(planned, first, count, fps)
    frames_in, frames_out = fade_ranges(planned, fps)
    card = item.title
    return {
        "kind": item.kind,
        "source": item.sha256,
        "trim_start": round(item.trim_start, 6) if item.kind == "video" else 0,
        "frames": planned.frames,
        "first": first,
        "count": count,
        "motion": item.motion if item.kind == "image" else None,
        "fade_in": frames_in if fade_in else 0,
        "fade_out": frames_out if fade_out else 0,
        "texts": [_overlay_payload(o) for o in overlays],
        "title": None if card is None else {
            "text": card.text, "background": parse_color(card.background),
            "color": parse_color(card.color), "size": card.size,
            "font": _font(card.font, card.font_sha256)},
    }


def segment_key(segment: Segment, settings: RenderSettings) -> str:
    """Cache key of one segment: an item's body, or a transition between two items."""
    fps = settings.fps
    if segment.transition is not None:
        t = segment.transition
        before = t.before
        content: dict[str, object] = {
            "transition": t.kind, "count": t.frames,
            "before": picture_payload(before, before.frames - t.frames, t.frames, fps),
            "after": picture_payload(t.after, 0, t.frames, fps),
        }
    else:
        planned = segment.item
        assert planned is not None
        content = picture_payload(planned, segment.item_first, segment.frames, fps)
    return _digest({"engine": ENGINE_VERSION, **content, **_settings_payload(settings)})


def _sound_payload(item: TimelineItem) -> dict[str, object]:
    return {"volume": round(item.volume, 6), "mute": item.mute,
            "fade_in": round(item.fade_in, 6), "fade_out": round(item.fade_out, 6)}


def render_key(plan: TimelinePlan, segment_keys: list[str], settings: RenderSettings) -> str:
    """Cache key of a whole render: ordered segments, every audio input, settings."""
    clip_audio = [
        {"source": p.item.sha256, "trim_start": round(p.item.trim_start, 6),
         "frames": p.frames, "tail": p.tail, **_sound_payload(p.item)}
        if p.item.kind == "video" and p.item.has_audio else {"frames": p.frames, "tail": p.tail}
        for p in plan.visual
    ]
    background = [{"source": i.sha256, "trim_start": round(i.trim_start, 6),
                   "duration": round(i.duration, 6), "duck": i.duck, **_sound_payload(i)}
                  for i in plan.background]
    return _digest({
        "engine": ENGINE_VERSION,
        "segments": segment_keys,
        "clip_audio": clip_audio,
        "background": background,
        "background_gain": BACKGROUND_GAIN,
        "bed_fade_out": BED_FADE_OUT,
        "loudness": settings.loudness,
        **_settings_payload(settings),
    })


def temp_sibling(path: Path) -> Path:
    """A unique temporary name beside ``path`` with the same suffix (ffmpeg picks muxers by it)."""
    return path.with_name(f".{path.stem}.tmp-{uuid.uuid4().hex[:10]}{path.suffix}")


def remove_quietly(*paths: Path) -> None:
    """Delete files, ignoring ones already gone."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def link_or_copy(src: Path, dst: Path) -> None:
    """Publish ``src`` at ``dst`` atomically: a hard link when possible, else a copy."""
    import shutil

    tmp = temp_sibling(dst)
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        remove_quietly(tmp)


@dataclass(frozen=True)
class CachedRender:
    """A finished render kept in the cache."""

    output: Path
    poster: Path
    size: int
    duration: float
    sha256: str
    loudness: dict[str, float] | None = None


class RenderCache:
    """Paths and lookups inside ``<storage_dir>/cache``."""

    def __init__(self, storage_dir: Path) -> None:
        self.root = Path(storage_dir) / "cache"
        self.segments_dir = self.root / "segments"
        self.renders_dir = self.root / "renders"

    def ensure_dirs(self) -> None:
        self.segments_dir.mkdir(parents=True, exist_ok=True)
        self.renders_dir.mkdir(parents=True, exist_ok=True)

    def segment_path(self, key: str, fmt: str) -> Path:
        """Where the segment with this key lives (it may not exist yet)."""
        return self.segments_dir / f"{key}.{FORMAT_SPECS[fmt].segment_ext}"

    def has_segment(self, key: str, fmt: str) -> bool:
        path = self.segment_path(key, fmt)
        try:
            return path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def _render_paths(self, key: str, fmt: str) -> tuple[Path, Path, Path]:
        base = self.renders_dir / key
        ext = FORMAT_SPECS[fmt].output_ext
        return base.with_suffix(f".{ext}"), base.with_suffix(".jpg"), base.with_suffix(".json")

    def lookup_render(self, key: str, fmt: str) -> CachedRender | None:
        """The cached render for ``key`` if it is complete and intact, else None."""
        output, poster, meta_path = self._render_paths(key, fmt)
        try:
            meta = json.loads(meta_path.read_text())
            if output.stat().st_size != meta["size"] or not poster.is_file():
                return None
            loudness = meta.get("loudness")
            if loudness is not None:
                loudness = {str(k): float(v) for k, v in dict(loudness).items()}
            return CachedRender(output, poster, int(meta["size"]), float(meta["duration"]),
                                str(meta["sha256"]), loudness)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store_render(self, key: str, fmt: str, output: Path, poster: Path, *, size: int,
                     duration: float, sha256: str,
                     loudness: dict[str, float] | None = None) -> None:
        """Keep a finished render (hard links to the published files). Best effort."""
        c_output, c_poster, meta_path = self._render_paths(key, fmt)
        try:
            link_or_copy(output, c_output)
            link_or_copy(poster, c_poster)
            tmp = temp_sibling(meta_path)
            tmp.write_text(json.dumps({"size": size, "duration": duration, "sha256": sha256,
                                       "loudness": loudness}))
            os.replace(tmp, meta_path)
        except OSError:
            remove_quietly(meta_path)


def sweep_leftovers(storage_dir: Path, *, older_than: float) -> int:
    """Delete what killed renders left behind: temp outputs and segments (``.*.tmp-*``),
    concat lists and work directories older than `older_than` seconds. Returns the count.

    Every such name is private to one render, so anything older than the longest a render
    may run (the job timeout) belongs to a render that is gone.
    """
    import shutil
    import time

    cutoff = time.time() - older_than
    removed = 0
    candidates: list[Path] = []
    for folder in (storage_dir / "renders", storage_dir / "cache" / "segments",
                   storage_dir / "cache" / "renders"):
        if folder.is_dir():
            candidates += [p for p in folder.glob(".*") if ".tmp-" in p.name
                           or p.name.startswith(".concat-")]
    work = storage_dir / "tmp"
    if work.is_dir():
        candidates += [p for p in work.glob("render-*") if p.is_dir()]
    for path in candidates:
        try:
            if path.stat().st_mtime > cutoff:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
    return removed
