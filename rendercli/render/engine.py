"""render_timeline(): a timeline and settings in, a published video and poster out.

Pipeline: the picture is cut into cached, video-only segments of exact frame counts --
each picture item's body, and each transition (the tail of one item crossed with the
head of the next) -- so items encode independently; the whole soundtrack is rendered
in one pass (plus a measuring pass for a loudness target); segments are joined by
stream copy (concat demuxer) and muxed with the soundtrack (mp4/webm) or turned into a
palette gif. Independent steps run in parallel, bounded by ``jobs``.
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
from rendercli.errors import InvalidInput
from rendercli.render import commands, pictures, soundtrack
from rendercli.render.cache import (
    ENGINE_VERSION,
    RenderCache,
    remove_quietly,
    render_key,
    segment_key,
    temp_sibling,
)
from rendercli.render.errors import RenderCancelled, RenderFailed, RenderTimedOut
from rendercli.render.presets import FORMAT_SPECS
from rendercli.render.progress import ProgressCallback, ProgressTracker
from rendercli.render.scheduler import Step, run_steps
from rendercli.render.text import check_fonts
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

__all__ = [
    "ENGINE_VERSION",
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
    "frame_at",
    "render_frame",
    "render_storyboard",
    "render_timeline",
    "title_item",
    "validate_settings",
    "validate_timeline",
]

POSTER_POSITION = 0.10  # fraction of the way in
DEFAULT_JOBS = 2  # concurrent ffmpeg processes


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
    # With a loudness target: loudnorm's report of the final mix (input_i, input_tp,
    # input_lra, output_i, output_tp, ... in LUFS / dBTP / LU).
    loudness: dict[str, float] | None = None


def _loudness_line(loudness: dict[str, float], settings: RenderSettings) -> str:
    nan = float("nan")
    return (f"loudness: measured {loudness.get('input_i', nan):.1f} LUFS "
            f"(true peak {loudness.get('input_tp', nan):.1f} dBTP), normalised to "
            f"{loudness.get('output_i', nan):.1f} LUFS (target {settings.loudness:g})")


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
    jobs: int | None = None,
) -> RenderResult:
    """Render ``items`` with ``settings`` into ``<storage_dir>/renders/<name>.<ext>``.

    ``on_progress(percent, eta_seconds)`` is called at most twice a second, never going
    backwards, and with exactly 100 on success. ``should_cancel`` is polled every 0.2 s;
    ``timeout`` bounds the whole render in seconds. ``name`` is the output file stem
    (default: derived from the render's cache key plus a random suffix); ``jobs`` bounds
    concurrent ffmpeg processes. All callbacks run on the calling thread.

    Raises InvalidInput (bad settings or timeline), RenderFailed, RenderCancelled or
    RenderTimedOut; on any failure nothing is published and no ffmpeg is left running.
    """
    validate_settings(settings)
    validate_timeline(items, settings.fps)
    check_fonts(items)
    if name is not None:
        try:
            storage.render_path(Path(storage_dir), name, "jpg")
        except storage.UnsafePath:
            raise InvalidInput(f"invalid output name {name!r}: use a job id") from None
    started = time.monotonic()
    deadline = started + timeout if timeout is not None else None
    storage_dir = Path(storage_dir)
    spec = FORMAT_SPECS[settings.fmt]
    plan = plan_timeline(items, settings.fps)
    cache = RenderCache(storage_dir)
    cache.ensure_dirs()
    (storage_dir / storage.RENDERS_DIR).mkdir(parents=True, exist_ok=True)

    keys = [segment_key(s, settings) for s in plan.segments]
    rkey = render_key(plan, keys, settings)
    stem = name or f"render-{rkey[:12]}-{uuid.uuid4().hex[:8]}"
    out_path = storage.render_path(storage_dir, stem, spec.output_ext)
    poster_path = storage.render_path(storage_dir, stem, "jpg")
    unique_keys = list(dict.fromkeys(keys))

    hit = (cache.serve_render(rkey, settings.fmt, out_path, poster_path)
           if settings.use_cache else None)
    if hit is not None:
        ProgressTracker({}, on_progress).finish()
        if log:
            log(f"cache hit: the whole video ({plan.total_frames} frames, {len(unique_keys)} "
                f"segments) was reused from an identical earlier render (render key "
                f"{rkey[:12]}); no ffmpeg ran")
            if hit.loudness:
                log(_loudness_line(hit.loudness, settings))
        return RenderResult(out_path, poster_path, hit.size, hit.duration, hit.sha256,
                            cache_hit=True, segments_reused=unique_keys,
                            frames=plan.total_frames, render_key=rkey,
                            elapsed=time.monotonic() - started, loudness=hit.loudness)

    # Temporary names carry this process's owner tag: a sweep removes them once it is gone.
    work_dir = storage.tmp_dir(storage_dir) / storage.temp_name(storage_dir, "render-")
    work_dir.mkdir()
    concat_list = cache.segments_dir / storage.temp_name(storage_dir, ".concat-", ".ffconcat")
    out_tmp = temp_sibling(out_path, storage_dir)
    poster_tmp = temp_sibling(poster_path, storage_dir)
    loudness: dict[str, float] = {}
    try:
        steps, encoded = _build_steps(plan, keys, settings, cache, work_dir, concat_list,
                                      out_tmp, poster_tmp, loudness)
        tracker = ProgressTracker({s.name: s.weight for s in steps}, on_progress)
        run_steps(steps, jobs=max(1, jobs or DEFAULT_JOBS), tracker=tracker,
                  should_cancel=should_cancel, deadline=deadline, timeout=timeout, log=log)
        if should_cancel is not None and should_cancel():
            raise RenderCancelled()
        os.replace(poster_tmp, poster_path)
        os.replace(out_tmp, out_path)
    except BaseException:
        remove_quietly(out_tmp, poster_tmp)
        raise
    finally:
        remove_quietly(concat_list)
        shutil.rmtree(work_dir, ignore_errors=True)

    size = out_path.stat().st_size
    sha = storage.file_sha256(out_path)
    cache.store_render(rkey, settings.fmt, out_path, poster_path, size=size,
                       duration=plan.duration, sha256=sha, loudness=dict(loudness) or None)
    tracker.finish()
    reused = [k for k in unique_keys if k not in encoded]
    if log:
        if loudness:
            log(_loudness_line(loudness, settings))
        if reused:
            labels = [s.label for s, k in zip(plan.segments, keys, strict=True) if k in reused]
            log(f"reused from the cache: {', '.join(dict.fromkeys(labels))}")
        log(f"rendered {out_path.name}: {plan.total_frames} frames, {len(encoded)} segments "
            f"encoded, {len(reused)} reused, {time.monotonic() - started:.2f} s")
    return RenderResult(out_path, poster_path, size, plan.duration, sha, cache_hit=False,
                        segments_encoded=encoded, segments_reused=reused,
                        commands=[s.argv for s in steps], frames=plan.total_frames,
                        render_key=rkey, elapsed=time.monotonic() - started,
                        loudness=dict(loudness) or None)


def _build_steps(
    plan: TimelinePlan,
    keys: list[str],
    settings: RenderSettings,
    cache: RenderCache,
    work_dir: Path,
    concat_list: Path,
    out_tmp: Path,
    poster_tmp: Path,
    loudness: dict[str, float],
) -> tuple[list[Step], list[str]]:
    """The ffmpeg steps of one render (cheap, ordered by start priority) and the keys of
    the segments that must be encoded. With a loudness target, ``loudness`` receives
    the measurement of the final mix."""
    fmt = settings.fmt
    spec = FORMAT_SPECS[fmt]
    total_us = plan.duration * 1e6
    steps: list[Step] = []
    seg_steps: dict[str, Step] = {}
    for segment, key in zip(plan.segments, keys, strict=True):
        if key in seg_steps or (settings.use_cache and cache.has_segment(key, fmt)):
            continue
        final = cache.segment_path(key, fmt)
        tmp = temp_sibling(final, cache.storage_dir)
        seg_steps[key] = Step(f"{segment.label} {key[:12]}",
                              pictures.segment_command(segment, settings, tmp, work_dir),
                              _segment_weight(segment, settings),
                              total_frames=segment.frames, outputs=[(tmp, final)],
                              exact_frames=True,
                              on_done=functools.partial(cache.record_segment, key, fmt))
    # Started first: short, and the final mux waits for it.
    if spec.audio_ext is not None:
        audio = work_dir / f"audio.{spec.audio_ext}"
        steps.extend(_audio_steps(plan, settings, work_dir, audio, loudness))
    steps.extend(seg_steps.values())

    poster_index, poster_at = _poster_source(plan)
    poster_key = keys[poster_index]
    poster_deps = (seg_steps[poster_key].name,) if poster_key in seg_steps else ()
    poster_step = Step("poster", commands.poster_command(cache.segment_path(poster_key, fmt),
                                                          poster_at, settings, poster_tmp),
                       1.0, deps=poster_deps)
    # Right behind its segment, so it runs while later segments encode.
    at = next((i + 1 for i, s in enumerate(steps) if s.name in poster_deps), len(steps))
    steps.insert(at, poster_step)

    commands.write_concat_list(concat_list, [cache.segment_path(k, fmt) for k in keys])
    all_segments = tuple(s.name for s in seg_steps.values())
    if fmt == "gif":
        palette = work_dir / "palette.png"
        steps.append(Step("palette", commands.palette_command(concat_list, settings, palette),
                          plan.total_frames * 0.05, deps=all_segments,
                          total_frames=plan.total_frames))
        steps.append(Step("gif", commands.gif_command(concat_list, palette, settings, out_tmp),
                          plan.total_frames * 0.2, deps=("palette",),
                          total_frames=plan.total_frames))
    else:
        steps.append(Step("mux", commands.mux_command(concat_list, audio, settings, out_tmp),
                          plan.total_frames * 0.01, deps=(*all_segments, "audio"),
                          total_us=total_us))
    return steps, list(seg_steps)


def _audio_steps(plan: TimelinePlan, settings: RenderSettings, work_dir: Path, audio: Path,
                 loudness: dict[str, float]) -> list[Step]:
    """The soundtrack: one step, or measure-then-normalise for a loudness target."""
    total_us = plan.duration * 1e6
    weight = plan.total_frames * 0.03
    if settings.loudness is None:
        return [Step("audio", soundtrack.audio_command(plan, settings, audio), weight,
                     total_us=total_us)]
    mix = work_dir / "mix.wav"

    def measured(stderr: str) -> None:
        try:
            loudness.update(soundtrack.parse_loudnorm(stderr))
        except ValueError as exc:
            raise RenderFailed(f"loudness measurement failed: {exc}", stderr) from None

    def normalise() -> list[str]:
        return soundtrack.normalise_command(plan, settings, mix, loudness, audio)

    def result(stderr: str) -> None:
        try:
            final = soundtrack.parse_loudnorm(stderr)
        except ValueError:  # a silent mix is not normalised: nothing was reported
            return
        loudness.update({k: v for k, v in final.items() if k.startswith("output_")})
        loudness["linear"] = final["linear"]  # 1: a plain gain; 0: loudnorm's dynamic mode

    return [
        Step("audio-measure", soundtrack.measure_command(plan, settings, mix), weight,
             total_us=total_us, on_success=measured),
        Step("audio", [], weight, deps=("audio-measure",), total_us=total_us,
             prepare=normalise, on_success=result),
    ]


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
    path = storage.tmp_dir(storage_dir) / storage.temp_name(storage_dir, "render-")
    path.mkdir()
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
    from rendercli.render import runner

    validate_settings(settings)
    validate_timeline(items, settings.fps)
    check_fonts(items)
    plan = plan_timeline(items, settings.fps)
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
    from rendercli.render import runner

    items = [tile.item for tile in tiles]
    validate_settings(settings)
    validate_timeline(items, settings.fps)
    check_fonts(items)
    plan = plan_timeline(items, settings.fps)
    planned = iter(plan.visual)
    cells = [(next(planned) if tile.item.kind != "audio" else None, tile.caption, tile.name)
             for tile in tiles]
    layout = pictures.sheet_layout(len(cells), settings)
    with _work_dir(Path(storage_dir)) as work_dir:
        runner.run(pictures.sheet_command(cells, settings, layout, out, work_dir),
                   timeout=timeout)
    return layout
