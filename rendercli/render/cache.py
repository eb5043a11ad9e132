"""Content-addressed cache of segments and finished renders under ``<storage>/cache``.

Every entry is written to a temporary name in the same directory and renamed into
place only when complete, so a killed render never leaves a truncated entry. Each entry
has a ``<key>.json`` beside it recording its SHA-256 when it was written; a hit is
served only if the bytes still hash to it. An entry whose bytes were replaced is a miss:
it is rendered again and the entry replaced.

A farm without a shared disk shares the cache through a bucket: RenderCache takes an
optional ``remote`` (:class:`RemoteCache`, implemented outside the engine, which never
imports the object store). On a local miss an entry is fetched by name (its ``.json``
sidecar first, then the files it records), each file verified against the sidecar in a
temporary name before it is renamed into place; after an entry is written here it is
published (files first, then the sidecar, and the sidecar only by the writer that created
the files, so a sidecar in the bucket always describes the bytes beside it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rendercli import storage
from rendercli.render.pictures import fade_ranges, visible_effects
from rendercli.render.presets import BACKGROUND_GAIN, FORMAT_SPECS
from rendercli.render.subtitles import stack_key
from rendercli.render.timeline import (
    BED_FADE_OUT,
    PlannedItem,
    RenderSettings,
    Segment,
    TextOverlay,
    TimelineItem,
    TimelinePlan,
    effective_fit,
    parse_color,
)

# Bump when commands change in a way that changes output bytes: invalidates every entry.
# A source's colour conversion is a function of its bytes (``source``) and this version.
# 4: one colour pipeline (BT.709 limited range, tagged); 5: text by libass, fits
# 6: clip frames picked on the item's grid in every segment
ENGINE_VERSION = "6"
LOUDNESS_METHOD = "measured-output"  # render/loudness.py: renders with a loudness target


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
            "color": parse_color(overlay.color), "style": overlay.effective_style,
            "font": _font(overlay.font, overlay.font_sha256), "face": overlay.font_face,
            "fade": [round(overlay.fade_in, 6), round(overlay.fade_out, 6)]}


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
        "fit": effective_fit(item),
        "fade_in": frames_in if fade_in else 0,
        "fade_out": frames_out if fade_out else 0,
        "texts": [_overlay_payload(o) for o in overlays],
        "title": None if card is None else {
            "text": card.text, "background": parse_color(card.background),
            "color": parse_color(card.color), "size": card.size,
            "font": _font(card.font, card.font_sha256), "face": card.font_face,
            "style": card.effective_style,
            "fade": [round(card.fade_in, 6), round(card.fade_out, 6)]},
        "stack": stack_key(planned, fps),
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
        # with the method: renders normalised the old way are not served for the new
        "loudness": None if settings.loudness is None else [settings.loudness,
                                                            LOUDNESS_METHOD],
        **_settings_payload(settings),
    })


def soundtrack_key(render_key: str) -> str:
    """The cache key of a render's soundtrack (the render key covers every input of it)."""
    return _digest({"engine": ENGINE_VERSION, "soundtrack_of": render_key})


def temp_sibling(path: Path, storage_dir: Path) -> Path:
    """A unique temporary name beside ``path`` with the same suffix (ffmpeg picks muxers
    by it), carrying this process's owner tag so a sweep knows whose it is."""
    return path.with_name(storage.temp_name(storage_dir, f".{path.stem}.tmp-", path.suffix))


def remove_quietly(*paths: Path) -> None:
    """Delete files, ignoring ones already gone."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def link_or_copy(src: Path, dst: Path, storage_dir: Path) -> None:
    """Publish ``src`` at ``dst`` atomically: a hard link when possible, else a copy."""
    tmp = temp_sibling(dst, storage_dir)
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        remove_quietly(tmp)


def _write_meta(path: Path, meta: dict[str, object], storage_dir: Path) -> None:
    tmp = temp_sibling(path, storage_dir)
    try:
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, path)
    finally:
        remove_quietly(tmp)


def _read_meta(path: Path) -> dict[str, object] | None:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _intact(path: Path, size: object, sha256: object) -> bool:
    """True if ``path`` has exactly ``size`` bytes hashing to ``sha256``."""
    try:
        if not isinstance(size, int) or path.stat().st_size != size:
            return False
        return isinstance(sha256, str) and storage.file_sha256(path) == sha256
    except OSError:
        return False


MAX_SIDECAR_BYTES = 64 * 1024  # a fetched .json sidecar larger than this is refused


class RemoteCache(Protocol):
    """The farm's shared copy of the cache, by name: ``segments/<key>.<ext>`` or
    ``renders/<key>.<ext>`` (the same relative path as under ``<storage>/cache``)."""

    def fetch(self, name: str, dest: Path) -> bool:
        """Write the object's bytes to the new file ``dest``; False if there is none."""
        ...

    def publish(self, name: str, path: Path) -> int:
        """Make the local file available under ``name``, create-only. Returns the bytes
        uploaded: 0 when an object of that name was already there."""
        ...

    def exists(self, name: str) -> bool:
        """True if the remote holds an object of that name (nothing is fetched)."""
        ...


def entry_name(path: Path) -> str:
    """``segments/<key>.<ext>`` for ``<storage>/cache/segments/<key>.<ext>``."""
    return f"{path.parent.name}/{path.name}"


@dataclass(frozen=True)
class CachedRender:
    """A finished render served from the cache (verified) at the caller's paths."""

    output: Path
    poster: Path
    size: int
    duration: float
    sha256: str
    loudness: dict[str, float] | None = None


class RenderCache:
    """Paths, lookups and writes inside ``<storage_dir>/cache``."""

    def __init__(self, storage_dir: Path, remote: RemoteCache | None = None) -> None:
        self.storage_dir = Path(storage_dir)
        self.root = self.storage_dir / storage.CACHE_DIR
        self.segments_dir = self.root / "segments"
        self.renders_dir = self.root / "renders"
        self.remote = remote
        self._verified: set[Path] = set()
        self._fetched: set[Path] = set()  # sidecars asked of the remote (once each)

    # ---- the remote copy -------------------------------------------------------------

    def _fetch(self, meta_path: Path, files: list[tuple[Path, str, str]]) -> bool:
        """On a local miss, bring an entry from the remote: its sidecar, then each
        (path, size field, sha256 field) it records, each verified in a temporary name
        and renamed into place; the sidecar last. False (nothing kept) if the remote has
        no complete entry or its bytes are not the ones recorded."""
        if self.remote is None or meta_path in self._fetched:
            return False
        self._fetched.add(meta_path)
        self.ensure_dirs()
        meta_tmp = temp_sibling(meta_path, self.storage_dir)
        placed: list[Path] = []
        temps = [meta_tmp]
        try:
            if not self.remote.fetch(entry_name(meta_path), meta_tmp):
                return False
            if meta_tmp.stat().st_size > MAX_SIDECAR_BYTES:
                return False
            meta = _read_meta(meta_tmp)
            if meta is None:
                return False
            for path, size_field, sha_field in files:
                tmp = temp_sibling(path, self.storage_dir)
                temps.append(tmp)
                if not (self.remote.fetch(entry_name(path), tmp)
                        and _intact(tmp, meta.get(size_field), meta.get(sha_field))):
                    for done in placed:
                        remove_quietly(done)
                    return False
                os.replace(tmp, path)
                placed.append(path)
            os.replace(meta_tmp, meta_path)
            return True
        except OSError:
            for done in placed:
                remove_quietly(done)
            return False
        finally:
            remove_quietly(*temps)

    def _publish(self, meta_path: Path, files: list[Path]) -> None:
        """Publish an entry just written here: its files, then its sidecar, the sidecar
        only if this writer created the first file (another writer's sidecar describes
        its own bytes, which may differ from an encode here)."""
        if self.remote is None:
            return
        created = [self.remote.publish(entry_name(path), path) for path in files]
        if created and created[0] > 0:
            self.remote.publish(entry_name(meta_path), meta_path)

    def ensure_dirs(self) -> None:
        self.segments_dir.mkdir(parents=True, exist_ok=True)
        self.renders_dir.mkdir(parents=True, exist_ok=True)

    def segment_path(self, key: str, fmt: str) -> Path:
        """Where the segment with this key lives (it may not exist yet)."""
        return storage.cache_path(self.storage_dir, "segments", key,
                                  FORMAT_SPECS[fmt].segment_ext)

    def has_segment(self, key: str, fmt: str) -> bool:
        """True if the segment exists and still hashes to what was recorded when it was
        written (checked once per RenderCache)."""
        path = self.segment_path(key, fmt)
        if path in self._verified:
            return True
        meta = _read_meta(path.with_suffix(".json"))
        intact = meta is not None and _intact(path, meta.get("size"), meta.get("sha256"))
        if not intact and not self._fetch(path.with_suffix(".json"),
                                          [(path, "size", "sha256")]):
            return False
        self._verified.add(path)
        return True

    def segment_available(self, key: str, fmt: str) -> bool:
        """True if the segment is here (verified) or the remote has its entry (not
        fetched: whoever joins it fetches and verifies it then)."""
        path = self.segment_path(key, fmt)
        if path in self._verified:
            return True
        meta = _read_meta(path.with_suffix(".json"))
        if meta is not None and _intact(path, meta.get("size"), meta.get("sha256")):
            self._verified.add(path)
            return True
        return self.remote is not None and self.remote.exists(
            entry_name(path.with_suffix(".json")))

    def record_segment(self, key: str, fmt: str) -> None:
        """Note the SHA-256 of a segment just renamed into place."""
        path = self.segment_path(key, fmt)
        size = path.stat().st_size
        _write_meta(path.with_suffix(".json"),
                    {"size": size, "sha256": storage.file_sha256(path)}, self.storage_dir)
        self._verified.add(path)
        self._publish(path.with_suffix(".json"), [path])

    def soundtrack_path(self, key: str, fmt: str) -> Path:
        """Where the soundtrack with this key (see soundtrack_key) lives, beside the
        segments. Formats without sound have none."""
        ext = FORMAT_SPECS[fmt].audio_ext
        assert ext is not None
        return storage.cache_path(self.storage_dir, "segments", key, ext)

    def soundtrack_loudness(self, key: str, fmt: str) -> dict[str, float] | None:
        """The loudness report recorded with a cached soundtrack ({} without a loudness
        target) if the soundtrack is there and intact; else None."""
        path = self.soundtrack_path(key, fmt)
        meta = _read_meta(path.with_suffix(".json"))
        if meta is None or not _intact(path, meta.get("size"), meta.get("sha256")):
            if not self._fetch(path.with_suffix(".json"), [(path, "size", "sha256")]):
                return None
            meta = _read_meta(path.with_suffix(".json"))
            if meta is None:
                return None
        try:
            return {str(k): float(v) for k, v in dict(meta.get("loudness") or {}).items()}  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return None

    def record_soundtrack(self, key: str, fmt: str, loudness: dict[str, float]) -> None:
        """Note the SHA-256 (and loudness report) of a soundtrack just renamed into place."""
        path = self.soundtrack_path(key, fmt)
        _write_meta(path.with_suffix(".json"),
                    {"size": path.stat().st_size, "sha256": storage.file_sha256(path),
                     "loudness": dict(loudness)}, self.storage_dir)
        self._publish(path.with_suffix(".json"), [path])

    def has_render(self, key: str, fmt: str) -> bool:
        """A cheap hint that the finished render is cached (recorded, sizes match; the
        bytes are verified only when :meth:`serve_render` serves it)."""
        c_output, c_poster, meta_path = self._render_paths(key, fmt)
        if self._local_render(c_output, c_poster, meta_path):
            return True
        return self._fetch(meta_path, [(c_output, "size", "sha256"),
                                       (c_poster, "poster_size", "poster_sha256")])

    @staticmethod
    def _local_render(c_output: Path, c_poster: Path, meta_path: Path) -> bool:
        meta = _read_meta(meta_path)
        try:
            return (meta is not None and c_output.stat().st_size == meta.get("size")
                    and c_poster.stat().st_size == meta.get("poster_size"))
        except OSError:
            return False

    def _render_paths(self, key: str, fmt: str) -> tuple[Path, Path, Path]:
        ext = FORMAT_SPECS[fmt].output_ext
        return (storage.cache_path(self.storage_dir, "renders", key, ext),
                storage.cache_path(self.storage_dir, "renders", key, "jpg"),
                storage.cache_path(self.storage_dir, "renders", key, "json"))

    def serve_render(self, key: str, fmt: str, output: Path, poster: Path) -> CachedRender | None:
        """Publish the cached render for ``key`` at ``output`` and ``poster`` if it is
        complete and its bytes are the ones recorded; else None (and nothing published).

        What is verified is what was published: the files are linked first, then hashed.
        """
        c_output, c_poster, meta_path = self._render_paths(key, fmt)
        if not self._local_render(c_output, c_poster, meta_path):
            self._fetch(meta_path, [(c_output, "size", "sha256"),
                                    (c_poster, "poster_size", "poster_sha256")])
        meta = _read_meta(meta_path)
        if meta is None:
            return None
        try:
            link_or_copy(c_poster, poster, self.storage_dir)
            link_or_copy(c_output, output, self.storage_dir)
        except OSError:  # missing or evicted under our feet
            remove_quietly(poster, output)
            return None
        if not (_intact(output, meta.get("size"), meta.get("sha256"))
                and _intact(poster, meta.get("poster_size"), meta.get("poster_sha256"))):
            remove_quietly(poster, output)
            return None
        try:
            loudness = meta.get("loudness")
            if loudness is not None:
                loudness = {str(k): float(v) for k, v in dict(loudness).items()}  # type: ignore[call-overload]
            return CachedRender(output, poster, int(meta["size"]),  # type: ignore[call-overload]
                                float(meta["duration"]), str(meta["sha256"]),  # type: ignore[arg-type]
                                loudness)
        except (KeyError, TypeError, ValueError):
            remove_quietly(poster, output)
            return None

    def store_render(self, key: str, fmt: str, output: Path, poster: Path, *, size: int,
                     duration: float, sha256: str,
                     loudness: dict[str, float] | None = None) -> None:
        """Keep a finished render (hard links to the published files). Best effort."""
        c_output, c_poster, meta_path = self._render_paths(key, fmt)
        try:
            link_or_copy(output, c_output, self.storage_dir)
            link_or_copy(poster, c_poster, self.storage_dir)
            _write_meta(meta_path, {"size": size, "duration": duration, "sha256": sha256,
                                    "loudness": loudness, "poster_size": c_poster.stat().st_size,
                                    "poster_sha256": storage.file_sha256(c_poster)},
                        self.storage_dir)
        except OSError:
            remove_quietly(meta_path)
            return
        self._publish(meta_path, [c_output, c_poster])
