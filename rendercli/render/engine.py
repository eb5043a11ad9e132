"""render_timeline(): a timeline and settings in, a published video and poster out.

Pipeline: the picture is cut into cached, video-only segments of exact frame counts --
each picture item's body, and each transition (the tail of one item crossed with the
head of the next) -- so items encode independently; the whole soundtrack is rendered
in one pass (plus measuring passes for a loudness target: loudness.py); segments are joined by
stream copy (concat demuxer) and muxed with the soundtrack (mp4/webm) or turned into a
palette gif. Independent steps run in parallel, bounded by ``jobs``.

The same pieces serve a render farm that splits one render over many machines:
``prepare_render`` plans it (segments and their cache keys; items longer than a chunk
are cut into chunks), ``encode_segment`` encodes one segment into the cache,
``render_soundtrack`` the soundtrack into a directory, and ``assemble`` joins, muxes,
makes the poster and publishes. ``render_timeline`` runs all of them in one process.

Cache keys name stored inputs by their content hash, and every step that reads stored
files checks them against it before it runs and before its output is published
(``render/verify.py``), so a cache entry is only ever made from the bytes its key says.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rendercli import storage
from rendercli.config import DEFAULT_RENDER_JOBS
from rendercli.errors import InvalidInput
from rendercli.media.ffmpeg_binary import require_format
from rendercli.render import commands, pictures, runner, soundtrack
from rendercli.render.cache import (
    ENGINE_VERSION,
    RemoteCache,
    RenderCache,
    remove_quietly,
    render_key,
    segment_key,
    soundtrack_key,
    temp_sibling,
)
from rendercli.render.colour import with_colours
from rendercli.render.errors import RenderCancelled, RenderFailed, RenderTimedOut
from rendercli.render.loudness import loudness_line, loudness_steps
from rendercli.render.presets import FORMAT_SPECS
from rendercli.render.progress import ProgressCallback, ProgressTracker
from rendercli.render.scheduler import Step, run_steps
from rendercli.render.subtitles import check_fonts
from rendercli.render.timeline import (
    RenderSettings,
    Segment,
    TextOverlay,
    TimelineItem,
    TimelinePlan,
    TitleCard,
    Transition,
    plan_timeline,
    title_item,
    validate_settings,
    validate_timeline,
)
from rendercli.render.verify import SourceCheck, segment_sources, soundtrack_sources

__all__ = [
    "ENGINE_VERSION",
    "PreparedRender",
    "RenderCancelled",
    "RenderFailed",
    "RenderResult",
    "RenderSettings",
    "RenderTimedOut",
    "SheetTile",
    "TextOverlay",
    "TimelineItem",
    "TitleCard",
    "Transition",
    "assemble",
    "encode_segment",
    "frame_at",
    "prepare_render",
    "render_frame",
    "render_soundtrack",
    "render_storyboard",
    "render_timeline",
    "title_item",
    "validate_settings",
    "validate_timeline",
]

POSTER_POSITION = 0.10  # fraction of the way in


@dataclass(frozen=True)
class RenderResult:
    """What a render produced. ``segments_*`` hold segment cache keys, in timeline order."""

    path: Path
    poster_path: Path
    size: int
    duration: float
    sha256: str
    cache_hit: bool
    segments_encoded: list[str] = field(default_factory=list)
    segments_reused: list[str] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    frames: int = 0
    render_key: str = ""
    elapsed: float = 0.0
    # With a loudness target: the measurements (loudness.py): input_i, input_tp,
    # input_lra of the mix, output_i of the encoded soundtrack, ... in LUFS / dBTP / LU.
    loudness: dict[str, float] | None = None


def _loudness_line(loudness: dict[str, float], settings: RenderSettings) -> str:
    return loudness_line(loudness, settings.loudness)


def _segment_weight(segment: Segment, settings: RenderSettings) -> float:
    """Relative encode cost: frames times pixels; static stills and titles are cheaper
    (drawn once), transitions dearer (two pictures each frame)."""
    w, h = settings.size
    cost = segment.frames * (w * h) / (1280 * 720)
    if segment.transition is not None:
        return cost * 2.0
    assert segment.item is not None
    item = segment.item.item
    return cost * (0.3 if item.kind in ("image", "title") and not item.motion else 1.0)


def _poster_source(plan: TimelinePlan) -> tuple[int, float]:
    """The segment (index) holding the frame POSTER_POSITION in, and the time within it."""
    frame = int(plan.total_frames * POSTER_POSITION)
    for n, segment in enumerate(plan.segments):
        if frame < segment.start_frame + segment.frames:
            return n, (frame - segment.start_frame) / plan.fps
    last = plan.segments[-1]
    return len(plan.segments) - 1, (last.frames - 1) / plan.fps


@dataclass(frozen=True)
class PreparedRender:
    """A validated timeline planned for rendering: the frame plan, each segment's cache
    key (in timeline order) and the whole render's key."""

    settings: RenderSettings
    plan: TimelinePlan
    keys: tuple[str, ...]
    render_key: str
    storage_dir: Path
    remote: RemoteCache | None = None  # the farm's shared cache (a bucket), if any

    @functools.cached_property
    def cache(self) -> RenderCache:
        """One cache view per prepared render: each entry's bytes are verified once."""
        return RenderCache(self.storage_dir, self.remote)

    @property
    def unique_keys(self) -> list[str]:
        return list(dict.fromkeys(self.keys))

    @property
    def has_soundtrack(self) -> bool:
        return FORMAT_SPECS[self.settings.fmt].audio_ext is not None

    @property
    def soundtrack_key(self) -> str:
        """The soundtrack's cache key (``render_soundtrack`` leaves it in the cache)."""
        return soundtrack_key(self.render_key)

    def soundtrack_pending(self) -> bool:
        """True if the soundtrack must be rendered: the format has sound and the cache
        may not be used or does not hold it."""
        if not self.has_soundtrack:
            return False
        if not self.settings.use_cache:
            return True
        return self.cache.soundtrack_loudness(self.soundtrack_key, self.settings.fmt) is None

    def segment(self, key: str) -> Segment:
        """The (first) segment with this cache key; KeyError if the plan has none."""
        for segment, k in zip(self.plan.segments, self.keys, strict=True):
            if k == key:
                return segment
        raise KeyError(key)

    def pending_segments(self) -> list[tuple[str, Segment]]:
        """(key, segment) of each distinct segment that must be encoded: all of them
        without the cache, else those not in it."""
        cache = self.cache
        out = []
        for key in self.unique_keys:
            if self.settings.use_cache and cache.segment_available(key, self.settings.fmt):
                continue
            out.append((key, self.segment(key)))
        return out

    def segment_weight(self, key: str) -> float:
        return _segment_weight(self.segment(key), self.settings)

    @property
    def soundtrack_weight(self) -> float:
        per_pass = self.plan.total_frames * 0.03
        return per_pass * (3 if self.settings.loudness is not None else 1)  # mix, encode, check

    @property
    def assemble_weight(self) -> float:
        factor = 0.25 if self.settings.fmt == "gif" else 0.01
        return self.plan.total_frames * factor + 1.0

    def has_cached_render(self) -> bool:
        """A hint that the finished render is in the cache and the cache may be used
        (``render_timeline`` then serves it, after verifying its bytes)."""
        return (self.settings.use_cache
                and self.cache.has_render(self.render_key, self.settings.fmt))


def prepare_render(items: Sequence[TimelineItem], settings: RenderSettings, *,
                   storage_dir: Path, chunk_seconds: float | None = None,
                   remote: RemoteCache | None = None) -> PreparedRender:
    """Validate ``items`` and ``settings`` and plan the render (no ffmpeg runs).

    ``chunk_seconds`` cuts item bodies longer than that into chunks of whole frames
    (None: no chunking). ``remote``: the farm's shared cache (see render/cache.py).
    Raises InvalidInput.
    """
    validate_settings(settings)
    validate_timeline(items, settings.fps)
    check_fonts(items, settings)
    items = with_colours(items)
    chunk_frames = None
    if chunk_seconds is not None and chunk_seconds > 0:
        chunk_frames = max(1, round(chunk_seconds * settings.fps))
    plan = plan_timeline(items, settings.fps, chunk_frames=chunk_frames)
    keys = tuple(segment_key(s, settings) for s in plan.segments)
    return PreparedRender(settings, plan, keys, render_key(plan, list(keys), settings),
                          Path(storage_dir), remote)


def _check_name(name: str | None, storage_dir: Path) -> None:
    if name is not None:
        try:
            storage.render_path(Path(storage_dir), name, "jpg")
        except storage.UnsafePath:
            raise InvalidInput(f"invalid output name {name!r}: use a job id") from None


def segment_step(prepared: PreparedRender, key: str, work_dir: Path) -> Step:
    """The ffmpeg step that encodes one segment into the cache (renamed into place)."""
    segment = prepared.segment(key)
    settings = prepared.settings
    require_format(settings.fmt)  # before anything renders
    cache = prepared.cache
    final = cache.segment_path(key, settings.fmt)
    tmp = temp_sibling(final, prepared.storage_dir)
    # The SHA-256 record makes it a cache entry: without it has_segment says "missing".
    return Step(f"{segment.label} {key[:12]}",
                pictures.segment_command(segment, settings, tmp, work_dir),
                _segment_weight(segment, settings), total_frames=segment.frames,
                outputs=[(tmp, final)], exact_frames=True,
                on_done=functools.partial(cache.record_segment, key, settings.fmt),
                sources=SourceCheck(segment_sources(segment)))


def soundtrack_steps(prepared: PreparedRender, work_dir: Path, audio: Path,
                     loudness: dict[str, float]) -> list[Step]:
    """The soundtrack into ``audio``: one step, or measure-then-normalise for a loudness
    target (``loudness`` then receives the measurement of the final mix)."""
    require_format(prepared.settings.fmt)
    return _audio_steps(prepared.plan, prepared.settings, work_dir, audio, loudness)


def assemble_steps(prepared: PreparedRender, work_dir: Path, concat_list: Path,
                   audio: Path | None, out_tmp: Path, poster_tmp: Path, *,
                   segment_deps: dict[str, str] | None = None,
                   audio_deps: tuple[str, ...] = ()) -> list[Step]:
    """Poster, then join + mux (or palette + gif). ``segment_deps`` maps the keys of
    segments still being encoded to their step names; ``audio_deps`` names the
    soundtrack's steps. Writes the concat list."""
    plan, settings = prepared.plan, prepared.settings
    fmt = settings.fmt
    require_format(fmt)
    cache = prepared.cache
    deps = segment_deps or {}
    poster_index, poster_at = _poster_source(plan)
    poster_key = prepared.keys[poster_index]
    steps = [Step("poster", commands.poster_command(cache.segment_path(poster_key, fmt),
                                                    poster_at, settings, poster_tmp),
                  1.0, deps=(deps[poster_key],) if poster_key in deps else ())]
    commands.write_concat_list(concat_list, [cache.segment_path(k, fmt) for k in prepared.keys])
    all_segments = tuple(deps.values())
    if fmt == "gif":
        palette = work_dir / "palette.png"
        steps.append(Step("palette", commands.palette_command(concat_list, settings, palette),
                          plan.total_frames * 0.05, deps=all_segments,
                          total_frames=plan.total_frames))
        steps.append(Step("gif", commands.gif_command(concat_list, palette, settings, out_tmp),
                          plan.total_frames * 0.2, deps=("palette",),
                          total_frames=plan.total_frames))
    else:
        assert audio is not None
        steps.append(Step("mux", commands.mux_command(concat_list, audio, settings, out_tmp),
                          plan.total_frames * 0.01, deps=(*all_segments, *audio_deps),
                          total_us=plan.duration * 1e6))
    return steps


def _publish_hit(prepared: PreparedRender, out_path: Path, poster_path: Path,
                 started: float, on_progress: ProgressCallback | None,
                 log: Callable[[str], None] | None) -> RenderResult | None:
    if not prepared.settings.use_cache:
        return None
    hit = prepared.cache.serve_render(prepared.render_key, prepared.settings.fmt, out_path,
                                      poster_path)
    if hit is None:
        return None
    ProgressTracker({}, on_progress).finish()
    if log:
        log(f"cache hit: the whole video ({prepared.plan.total_frames} frames, "
            f"{len(prepared.unique_keys)} segments) was reused from an identical earlier "
            f"render (render key {prepared.render_key[:12]}); no ffmpeg ran")
        if hit.loudness:
            log(_loudness_line(hit.loudness, prepared.settings))
    return RenderResult(out_path, poster_path, hit.size, hit.duration, hit.sha256,
                        cache_hit=True, segments_reused=prepared.unique_keys,
                        frames=prepared.plan.total_frames, render_key=prepared.render_key,
                        elapsed=time.monotonic() - started, loudness=hit.loudness)


def _output_paths(prepared: PreparedRender, name: str | None) -> tuple[Path, Path]:
    spec = FORMAT_SPECS[prepared.settings.fmt]
    storage_dir = prepared.storage_dir
    (storage_dir / storage.RENDERS_DIR).mkdir(parents=True, exist_ok=True)
    stem = name or f"render-{prepared.render_key[:12]}-{uuid.uuid4().hex[:8]}"
    return (storage.render_path(storage_dir, stem, spec.output_ext),
            storage.render_path(storage_dir, stem, "jpg"))


def _new_work_dir(storage_dir: Path) -> Path:
    # Temporary names carry this process's owner tag: a sweep removes them once it is gone.
    work_dir = storage.tmp_dir(storage_dir) / storage.temp_name(storage_dir, "render-")
    work_dir.mkdir()
    return work_dir


def _concat_list(prepared: PreparedRender) -> Path:
    return prepared.cache.segments_dir / storage.temp_name(prepared.storage_dir, ".concat-",
                                                           ".ffconcat")


@contextlib.contextmanager
def _publishing(prepared: PreparedRender, out_path: Path,
                poster_path: Path) -> Iterator[tuple[Path, Path, Path, Path]]:
    """(work dir, concat list, temporary output, temporary poster) for the steps run in
    the body; when it ends without an error, the poster and then the output are renamed
    into place. On any failure the temporaries are removed and nothing is published; the
    work dir and the concat list are removed either way."""
    storage_dir = prepared.storage_dir
    work_dir = _new_work_dir(storage_dir)
    concat_list = _concat_list(prepared)
    out_tmp = temp_sibling(out_path, storage_dir)
    poster_tmp = temp_sibling(poster_path, storage_dir)
    try:
        yield work_dir, concat_list, out_tmp, poster_tmp
        os.replace(poster_tmp, poster_path)
        os.replace(out_tmp, out_path)
    except BaseException:
        remove_quietly(out_tmp, poster_tmp)
        raise
    finally:
        remove_quietly(concat_list)
        shutil.rmtree(work_dir, ignore_errors=True)


def _run(steps: list[Step], *, jobs: int, on_progress: ProgressCallback | None,
         should_cancel: Callable[[], bool] | None, timeout: float | None,
         log: Callable[[str], None] | None) -> ProgressTracker:
    tracker = ProgressTracker({s.name: s.weight for s in steps}, on_progress)
    deadline = time.monotonic() + timeout if timeout is not None else None
    run_steps(steps, jobs=jobs, tracker=tracker, should_cancel=should_cancel,
              deadline=deadline, timeout=timeout, log=log)
    if should_cancel is not None and should_cancel():
        raise RenderCancelled()
    return tracker


def render_timeline(
    items: Sequence[TimelineItem],
    settings: RenderSettings,
    *,
    storage_dir: Path,
    on_progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    timeout: float | None = None,
    log: Callable[[str], None] | None = None,
    name: str | None = None,
    jobs: int = DEFAULT_RENDER_JOBS,
    chunk_seconds: float | None = None,
    remote: RemoteCache | None = None,
) -> RenderResult:
    """Render ``items`` with ``settings`` into ``<storage_dir>/renders/<name>.<ext>``.

    ``on_progress(percent, eta_seconds)`` is called at most twice a second, never going
    backwards, and with exactly 100 on success. ``should_cancel`` is polled every 0.2 s;
    ``timeout`` bounds the whole render in seconds. ``name`` is the output file stem
    (default: derived from the render's cache key plus a random suffix); ``jobs`` bounds
    concurrent ffmpeg processes; ``chunk_seconds`` cuts longer item bodies into chunks
    that encode side by side; ``remote`` is the farm's shared cache (a bucket), read on
    a local miss and given every entry made here. All callbacks run on the calling
    thread.

    Raises InvalidInput (bad settings or timeline), RenderFailed, RenderCancelled or
    RenderTimedOut; on any failure nothing is published and no ffmpeg is left running.
    """
    _check_name(name, storage_dir)
    started = time.monotonic()
    prepared = prepare_render(items, settings, storage_dir=storage_dir,
                              chunk_seconds=chunk_seconds, remote=remote)
    cache = prepared.cache
    cache.ensure_dirs()
    out_path, poster_path = _output_paths(prepared, name)
    hit = _publish_hit(prepared, out_path, poster_path, started, on_progress, log)
    if hit is not None:
        return hit

    spec = FORMAT_SPECS[settings.fmt]
    loudness: dict[str, float] = {}
    with _publishing(prepared, out_path, poster_path) as (work_dir, concat_list, out_tmp,
                                                          poster_tmp):
        seg_steps = {key: segment_step(prepared, key, work_dir)
                     for key in _to_encode(prepared, prepared.settings.use_cache)}
        steps: list[Step] = []
        audio = None
        if spec.audio_ext is not None:
            # Started first: short, and the final mux waits for it.
            audio = work_dir / f"audio.{spec.audio_ext}"
            steps.extend(soundtrack_steps(prepared, work_dir, audio, loudness))
        audio_deps = tuple(s.name for s in steps)[-1:]
        steps.extend(seg_steps.values())
        poster, *final = assemble_steps(
            prepared, work_dir, concat_list, audio, out_tmp, poster_tmp,
            segment_deps={k: s.name for k, s in seg_steps.items()}, audio_deps=audio_deps)
        # Right behind its segment, so it runs while later segments encode.
        at = next((i + 1 for i, s in enumerate(steps) if s.name in poster.deps), len(steps))
        steps.insert(at, poster)
        steps.extend(final)
        tracker = _run(steps, jobs=max(1, jobs),
                       on_progress=on_progress, should_cancel=should_cancel, timeout=timeout,
                       log=log)

    result = _published(prepared, out_path, poster_path, loudness, started,
                        encoded=list(seg_steps), commands_run=[s.argv for s in steps if s.argv],
                        log=log)
    tracker.finish()
    return result


def _to_encode(prepared: PreparedRender, use_cache: bool) -> list[str]:
    """Keys of the segments to encode here: all without the cache, else those neither
    here nor fetched (and verified) from the farm's shared cache."""
    cache, fmt = prepared.cache, prepared.settings.fmt
    return [k for k in prepared.unique_keys if not (use_cache and cache.has_segment(k, fmt))]


def _published(prepared: PreparedRender, out_path: Path, poster_path: Path,
               loudness: dict[str, float], started: float, *, encoded: list[str],
               commands_run: list[list[str]], log: Callable[[str], None] | None,
               note_reused: bool = True) -> RenderResult:
    """Keep a just-published render in the cache and describe it. ``note_reused``: log
    which segments came from the cache (the assemble task cannot tell them from those
    its sibling tasks encoded)."""
    plan, settings = prepared.plan, prepared.settings
    size = out_path.stat().st_size
    sha = storage.file_sha256(out_path)
    prepared.cache.store_render(prepared.render_key, settings.fmt, out_path, poster_path,
                                size=size, duration=plan.duration, sha256=sha,
                                loudness=dict(loudness) or None)
    reused = [k for k in prepared.unique_keys if k not in encoded]
    if log:
        if loudness:
            log(_loudness_line(loudness, settings))
        if reused and note_reused:
            labels = [s.label for s, k in zip(plan.segments, prepared.keys, strict=True)
                      if k in reused]
            log(f"reused from the cache: {', '.join(dict.fromkeys(labels))}")
        log(f"rendered {out_path.name}: {plan.total_frames} frames, {len(encoded)} segments "
            f"encoded, {len(reused)} reused, {time.monotonic() - started:.2f} s")
    return RenderResult(out_path, poster_path, size, plan.duration, sha, cache_hit=False,
                        segments_encoded=encoded, segments_reused=reused,
                        commands=commands_run, frames=plan.total_frames,
                        render_key=prepared.render_key, elapsed=time.monotonic() - started,
                        loudness=dict(loudness) or None)


def encode_segment(
    prepared: PreparedRender,
    key: str,
    *,
    on_progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    timeout: float | None = None,
    log: Callable[[str], None] | None = None,
) -> list[str]:
    """Encode one segment of ``prepared`` into the cache (a farm task). Returns the
    ffmpeg argv, or [] when the segment was already cached (someone encoded it since).

    Raises KeyError (no such segment in the plan), RenderFailed, RenderCancelled or
    RenderTimedOut; on failure the cache holds nothing new.
    """
    settings = prepared.settings
    cache = prepared.cache
    cache.ensure_dirs()
    prepared.segment(key)
    if settings.use_cache and cache.has_segment(key, settings.fmt):
        ProgressTracker({}, on_progress).finish()
        return []
    work_dir = _new_work_dir(prepared.storage_dir)
    try:
        step = segment_step(prepared, key, work_dir)
        tracker = _run([step], jobs=1, on_progress=on_progress, should_cancel=should_cancel,
                       timeout=timeout, log=log)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    tracker.finish()
    return step.argv


def render_soundtrack(
    prepared: PreparedRender,
    *,
    on_progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    timeout: float | None = None,
    log: Callable[[str], None] | None = None,
) -> list[list[str]]:
    """Render the soundtrack into the cache, with its loudness report, for a later
    ``assemble`` (a farm task). Returns the ffmpeg argvs: [] for formats without sound
    (gif) and when the soundtrack is already cached.

    Raises RenderFailed, RenderCancelled or RenderTimedOut; on failure the cache holds
    nothing new.
    """
    if not prepared.soundtrack_pending():
        ProgressTracker({}, on_progress).finish()
        return []
    settings, cache = prepared.settings, prepared.cache
    cache.ensure_dirs()
    final = cache.soundtrack_path(prepared.soundtrack_key, settings.fmt)
    tmp = temp_sibling(final, prepared.storage_dir)
    loudness: dict[str, float] = {}
    work_dir = _new_work_dir(prepared.storage_dir)
    try:
        steps = soundtrack_steps(prepared, work_dir, tmp, loudness)
        steps[-1].outputs.append((tmp, final))
        steps[-1].on_done = lambda: cache.record_soundtrack(prepared.soundtrack_key,
                                                            settings.fmt, loudness)
        tracker = _run(steps, jobs=1, on_progress=on_progress, should_cancel=should_cancel,
                       timeout=timeout, log=log)
    except BaseException:
        remove_quietly(tmp)
        raise
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    tracker.finish()
    return [s.argv for s in steps if s.argv]


def assemble(
    prepared: PreparedRender,
    *,
    name: str | None = None,
    on_progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    timeout: float | None = None,
    log: Callable[[str], None] | None = None,
    jobs: int = DEFAULT_RENDER_JOBS,
) -> RenderResult:
    """Join the cached segments, mux the soundtrack ``render_soundtrack`` left in the
    cache (or make the gif), make the poster and publish, like the end of
    ``render_timeline``. Every segment must be in the cache; a soundtrack that is not
    (removed since) is rendered here.

    Raises RenderFailed (a segment is missing), RenderCancelled or RenderTimedOut; on
    failure nothing is published.
    """
    _check_name(name, prepared.storage_dir)
    started = time.monotonic()
    settings = prepared.settings
    cache = prepared.cache
    cache.ensure_dirs()
    out_path, poster_path = _output_paths(prepared, name)
    # Every segment should be in the cache (its task put it there); one that is gone, or
    # whose copy in the farm's shared cache is not the bytes recorded, is encoded here.
    missing = _to_encode(prepared, use_cache=True)
    if missing and log:
        log(f"{len(missing)} segment(s) not in the cache, encoded here (first: "
            f"{prepared.segment(missing[0]).label})")
    audio = None
    steps: list[Step] = []
    loudness: dict[str, float] = {}
    with _publishing(prepared, out_path, poster_path) as (work_dir, concat_list, out_tmp,
                                                          poster_tmp):
        if prepared.has_soundtrack:
            cached = cache.soundtrack_loudness(prepared.soundtrack_key, settings.fmt)
            if cached is not None:
                audio = cache.soundtrack_path(prepared.soundtrack_key, settings.fmt)
                loudness.update(cached)
            else:
                audio = work_dir / f"audio.{FORMAT_SPECS[settings.fmt].audio_ext}"
                steps = soundtrack_steps(prepared, work_dir, audio, loudness)
        audio_deps = tuple(s.name for s in steps)[-1:]
        seg_steps = {key: segment_step(prepared, key, work_dir) for key in missing}
        steps += seg_steps.values()
        steps += assemble_steps(prepared, work_dir, concat_list, audio, out_tmp, poster_tmp,
                                segment_deps={k: s.name for k, s in seg_steps.items()},
                                audio_deps=audio_deps)
        tracker = _run(steps, jobs=max(1, jobs), on_progress=on_progress,
                       should_cancel=should_cancel, timeout=timeout, log=log)
    result = _published(prepared, out_path, poster_path, loudness, started, encoded=missing,
                        commands_run=[s.argv for s in steps if s.argv], log=log,
                        note_reused=False)
    tracker.finish()
    return result


def _audio_steps(plan: TimelinePlan, settings: RenderSettings, work_dir: Path, audio: Path,
                 loudness: dict[str, float]) -> list[Step]:
    """The soundtrack: one step, or measure-then-normalise for a loudness target."""
    total_us = plan.duration * 1e6
    weight = plan.total_frames * 0.03
    sources = SourceCheck(soundtrack_sources(plan))  # the step that reads them checks them
    if settings.loudness is None:
        return [Step("audio", soundtrack.audio_command(plan, settings, audio), weight,
                     total_us=total_us, sources=sources)]
    return loudness_steps(plan, settings, work_dir, audio, loudness, sources)


# ---- stills: one frame, and a contact sheet -----------------------------------------------


def frame_at(plan: TimelinePlan, seconds: float) -> tuple[int, int, int]:
    """The output frame shown at ``seconds`` (frame n is on screen from n / fps), the
    index of the segment holding it, and the frame's place in that segment. Raises
    InvalidInput outside 0..duration (the end itself shows the last frame)."""
    if not (isinstance(seconds, int | float) and math.isfinite(seconds)
            and 0 <= seconds <= plan.duration + 1e-9):
        shown = f"{seconds:g}" if isinstance(seconds, int | float) else repr(seconds)
        raise InvalidInput(f"--at must be a number from 0 to {plan.duration:g} (the video's "
                           f"length), got {shown}")
    frame = min(plan.total_frames - 1, math.floor(seconds * plan.fps + 1e-6))
    for n, segment in enumerate(plan.segments):
        if segment.start_frame <= frame < segment.start_frame + segment.frames:
            return frame, n, frame - segment.start_frame
    raise AssertionError(f"frame {frame} is in no segment")  # the plan covers every frame


@contextlib.contextmanager
def _work_dir(storage_dir: Path) -> Iterator[Path]:
    # Owner-tagged like a render's, so a sweep removes it if this process dies.
    path = _new_work_dir(storage_dir)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def render_frame(items: Sequence[TimelineItem], settings: RenderSettings, seconds: float,
                 out: Path, *, storage_dir: Path, timeout: float = 120.0) -> int:
    """Write the frame of the render shown at ``seconds`` to ``out`` (PNG) and return its
    frame number. Only that frame is drawn: the plan names the segment holding it, and
    ``pictures.frame_command`` draws it with the segment's own graph code (scaling,
    padding, rotation, transitions, text, motion). Raises InvalidInput or RenderFailed."""
    validate_settings(settings)
    validate_timeline(items, settings.fps)
    check_fonts(items, settings)
    plan = plan_timeline(with_colours(items), settings.fps)
    frame, index, offset = frame_at(plan, seconds)
    with _work_dir(Path(storage_dir)) as work_dir:
        runner.run(pictures.frame_command(plan.segments[index], offset, settings, out,
                                          work_dir), timeout=timeout)
    return frame


@dataclass(frozen=True)
class SheetTile:
    """One storyboard tile: a timeline item and the two caption lines under it."""

    item: TimelineItem
    caption: str
    name: str


def render_storyboard(tiles: Sequence[SheetTile], settings: RenderSettings, out: Path, *,
                      storage_dir: Path, timeout: float = 300.0) -> pictures.SheetLayout:
    """A contact sheet of the timeline as one PNG at ``out``: each picture item's middle
    frame as the render draws it (fades, text, motion and all), music as a plain tile,
    in timeline order, captioned. Returns the sheet's layout (its size and grid)."""
    items = [tile.item for tile in tiles]
    validate_settings(settings)
    validate_timeline(items, settings.fps)
    check_fonts(items, settings)
    plan = plan_timeline(with_colours(items), settings.fps)
    planned = iter(plan.visual)
    cells = [(next(planned) if tile.item.kind != "audio" else None, tile.caption, tile.name)
             for tile in tiles]
    layout = pictures.sheet_layout(len(cells), settings)
    with _work_dir(Path(storage_dir)) as work_dir:
        runner.run(pictures.sheet_command(cells, settings, layout, out, work_dir),
                   timeout=timeout)
    return layout
