"""Exactness holds with everything on at once: a 15-item timeline mixing every transition
kind, title cards, texts in three scripts (Latin, Arabic, CJK), motion on stills, every
fit, ducked music and a loudness target.

Checked on the decoded output: exactly sum(item frames) - sum(transition frames), sound within
one frame of the picture; an unchanged re-render is a cache hit and changing one title
re-encodes only the segments that show it; ``render_frame`` draws the frames the render
shows. Run with every available ffmpeg (bundled, and Debian's).
"""

from __future__ import annotations

import itertools
import math
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from rendercli.render.cache import RenderCache, segment_key
from rendercli.render.engine import RenderSettings, render_frame, render_timeline
from rendercli.render.timeline import (
    TRANSITIONS,
    TextOverlay,
    TitleCard,
    Transition,
    frames_for,
    plan_timeline,
    title_item,
)
from tests.ffmpegs import bundled_ffmpeg
from tests.media_factory import (
    make_audio,
    make_color_video,
    make_image,
    make_video,
    run_ffmpeg,
)
from tests.test_render_engine import item, probe
from tests.test_text_scripts import need_font

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("engine_ffmpeg")]

FPS = 10
# "high": render frame is compared with encoded frames, and test patterns lose detail
SETTINGS = RenderSettings(preset="480p", fmt="mp4", fps=FPS, quality="high", loudness=-16.0)
W, H = SETTINGS.size


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("exact")
    return {
        "clip": make_video(d / "clip.mp4", duration=2.0),
        "wide": make_video(d / "wide.mp4", duration=1.5, size=(320, 180), tone=550,
                           pattern="testsrc"),
        "colors": make_color_video(d / "colors.mp4", colors=("teal", "orange"),
                                   seconds_each=0.75),
        "photo": make_image(d / "photo.jpg", size=(300, 200)),  # 3:2, full-range JPEG
        "png": make_image(d / "tall.png", size=(200, 300)),
        "music": make_audio(d / "music.m4a", duration=12.0, tone=330),
    }


def _t(kind: str, seconds: float) -> Transition:
    return Transition(kind, seconds)


def timeline(m: dict[str, Path], *, day_two: str = "Day two") -> list:  # type: ignore[type-arg]
    """15 picture items (every transition kind, cuts included) and a ducked music bed."""
    photo = (300, 200)
    tall = (200, 300)
    wide = (320, 180)
    latin = TextOverlay("Été à Montréal, déjà !", start=0.1, fade_in=0.2)
    arabic = TextOverlay("مرحبا بالعالم", placement="top", style="outline")
    cjk = TextOverlay("東京の夏、こんにちは", placement="center", style="shadow", fade_out=0.2)
    items = [
        title_item(TitleCard("Summer trip", fade_in=0.2), 1.0,
                   transition=_t("fadeblack", 0.3)),
        replace(item(m["clip"], duration=1.0), texts=(latin,),
                transition=_t("crossfade", 0.3)),
        replace(item(m["photo"], "image", 1.0, size=photo), motion="zoom-in",
                transition=_t("wipeleft", 0.2)),
        replace(item(m["wide"], duration=1.2), fit="cover", texts=(arabic,)),  # a cut
        replace(item(m["png"], "image", 0.8, size=tall), fit="blur", texts=(cjk,),
                transition=_t("slideleft", 0.3)),
        replace(item(m["colors"], duration=1.0, trim=0.2), fit="blur",
                transition=_t("fade", 0.2)),
        title_item(TitleCard(day_two, background="navy", style="outline"), 0.8,
                   transition=_t("wiperight", 0.3)),
        replace(item(m["photo"], "image", 1.0, size=photo), motion="pan-left",
                transition=_t("slideright", 0.2)),
        replace(item(m["clip"], duration=0.7, trim=0.2), texts=(arabic, latin),
                transition=_t("circleopen", 0.3)),
        replace(item(m["png"], "image", 0.9, size=tall), motion="zoom-out", texts=(cjk,),
                transition=_t("dissolve", 0.2)),
        replace(item(m["wide"], duration=0.6, size=wide), transition=_t("crossfade", 0.2)),
        replace(item(m["photo"], "image", 1.1, size=photo), motion="pan-right",
                fit="contain", transition=_t("none", 0.0)),
        replace(item(m["colors"], duration=0.9), fit="contain", volume=0.5,
                transition=_t("fade", 0.3)),
        title_item(TitleCard("Fin — النهاية — 終わり", style="shadow", fade_out=0.3), 1.0,
                   transition=_t("fadeblack", 0.2)),
        replace(item(m["clip"], duration=1.0, trim=1.0), fade_out=0.3),
        replace(item(m["music"], "audio", 12.0), duck=True, volume=0.8),
    ]
    return items


def _expected_frames(items: list) -> int:  # type: ignore[type-arg]
    pictures = [i for i in items if i.kind != "audio"]
    overlaps = sum(frames_for(i.transition.seconds, FPS) for i in pictures[:-1]
                   if i.transition.kind != "none" and i.transition.seconds > 0)
    return sum(frames_for(i.duration, FPS) for i in pictures) - overlaps


def _segment_files(storage: Path) -> set[str]:
    return {p.name for p in RenderCache(storage).segments_dir.rglob("*.mp4")}


def _final_frame(video: Path, index: int) -> bytes:
    """Frame ``index`` of the output as RGB, decoded (from the start) as a player would."""
    proc = subprocess.run([bundled_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error",
                           "-i", str(video), "-vf", f"select=eq(n\\,{index})", "-fps_mode",
                           "passthrough", "-frames:v", "1", "-pix_fmt", "rgb24",
                           "-f", "rawvideo", "-"], capture_output=True, check=True)
    assert len(proc.stdout) == W * H * 3, proc.stderr.decode()
    return proc.stdout


def _png_rgb(path: Path) -> bytes:
    proc = subprocess.run([bundled_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error",
                           "-i", str(path), "-pix_fmt", "rgb24", "-f", "rawvideo", "-"],
                          capture_output=True, check=True)
    assert len(proc.stdout) == W * H * 3, proc.stderr.decode()
    return proc.stdout


def _psnr(a: bytes, b: bytes) -> float:
    mse = sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) / len(a)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def test_everything_at_once_is_exact_cached_and_previewed_right(
        media: dict[str, Path], tmp_path: Path) -> None:
    need_font("DejaVuSans", "fonts-dejavu-core")  # Arabic
    need_font("wqy-microhei", "fonts-wqy-microhei")  # CJK
    storage = tmp_path / "storage"
    items = timeline(media)
    pictures = [i for i in items if i.kind != "audio"]
    assert len(pictures) == 15
    used = {i.transition.kind for i in pictures[:-1]}
    assert used == set(TRANSITIONS)  # every kind, "none" (a cut) included
    assert {i.fit for i in pictures if i.kind == "video"} >= {"contain", "cover", "blur"}

    first = render_timeline(items, SETTINGS, storage_dir=storage)
    expected = _expected_frames(items)
    assert expected == 110
    info = probe(first.path)
    assert info["video"]["frames"] == expected == first.frames
    video_end = expected / FPS
    assert first.duration == pytest.approx(video_end)
    assert info["video"]["duration"] == pytest.approx(video_end, abs=0.002)
    assert abs(info["audio"]["duration"] - video_end) < 1 / FPS
    assert abs(info["audio"]["end"] - video_end) < 1 / FPS
    assert info["audio"]["gaps"] == 0
    assert first.loudness is not None and abs(first.loudness["output_i"] + 16.0) <= 0.5

    # render frame draws what the render shows: bodies with text (two of trimmed clips,
    # one fading out), a moving still, a title, and inside wipes, a slide and a circle.
    # (Not the noise dissolve: pixel noise is what a lossy encoder keeps least of.)
    plan = plan_timeline(items, FPS)
    picks = [plan.visual[k].start_frame + plan.visual[k].head + 1 for k in (1, 2, 6, 8, 14)]
    picks += [plan.transitions[k].start_frame + 1 for k in (2, 5, 6, 7)]
    assert [plan.transitions[k].kind for k in (2, 5, 6, 7)] == [
        "wipeleft", "wiperight", "slideright", "circleopen"]
    low = {}
    for frame in picks:
        out = tmp_path / f"frame{frame}.png"
        assert render_frame(items, SETTINGS, (frame + 0.5) / FPS, out,
                            storage_dir=storage) == frame
        psnr = _psnr(_png_rgb(out), _final_frame(first.path, frame))
        if psnr < 40:
            low[frame] = round(psnr, 1)
    assert not low, f"render frame vs the render's frames (dB): {low}"

    # Unchanged: a cache hit, nothing encoded.
    files = _segment_files(storage)
    again = render_timeline(items, SETTINGS, storage_dir=storage)
    assert again.cache_hit and again.segments_encoded == [] and again.commands == []
    assert again.sha256 == first.sha256
    assert _segment_files(storage) == files

    # One title changed: its body and the two transitions that show it, nothing else.
    changed = timeline(media, day_two="Day 2")
    new_plan = plan_timeline(changed, FPS)
    old_keys = {segment_key(s, SETTINGS) for s in plan.segments}
    touched = [s for s in new_plan.segments if segment_key(s, SETTINGS) not in old_keys]
    assert [s.label for s in touched] == ["transition 6-7", "segment 7", "transition 7-8"]
    second = render_timeline(changed, SETTINGS, storage_dir=storage)
    assert not second.cache_hit
    assert second.segments_encoded == [segment_key(s, SETTINGS) for s in touched]
    assert len(second.segments_reused) == len(plan.segments) - 3
    assert len(_segment_files(storage) - files) == 3
    info = probe(second.path)
    assert info["video"]["frames"] == expected
    assert abs(info["audio"]["duration"] - video_end) < 1 / FPS


# ------------------------------------------------------------- which source frame shows


def _indices(video: Path) -> list[int]:
    """The source frame number each frame of a render of the index clip shows (the
    clip's frame n shows n in binary: eight 8-pixel columns, black 0 and white 1; the
    64x64 clip is fitted to 480x480 in the middle of the 854x480 frame)."""
    proc = subprocess.run([bundled_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error",
                           "-i", str(video), "-vf", "crop=480:2:187:240", "-fps_mode",
                           "passthrough", "-pix_fmt", "gray", "-f", "rawvideo", "-"],
                          capture_output=True, check=True)
    rows = [proc.stdout[n:n + 480] for n in range(0, len(proc.stdout), 960)]
    return [sum(1 << bit for bit in range(8) if row[60 * bit + 30] > 128) for row in rows]


def test_every_segment_and_render_frame_pick_the_same_source_frames(tmp_path: Path) -> None:
    """A 25 fps clip at 10 fps: output frame k shows source frame 2.5 k (rounded the
    fps filter's way) whether the body is one segment or chunks starting between two
    source frames, and render frame shows the same. Reading each range from its own
    first source frame (PTS-STARTPTS) slid odd chunks half a source frame: repeats and
    skips at the joins, and previews a frame off."""
    clip = tmp_path / "index.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "color=black:s=64x64:r=25:d=2,format=gray,"
               "geq=lum=255*mod(floor(N/pow(2\\,floor(X/8)))\\,2)",
               "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p",
               str(clip))
    items = [item(clip, duration=1.6, trim=0.2, audio=False, size=(64, 64))]
    settings = RenderSettings(preset="480p", fmt="mp4", fps=FPS, quality="high")
    whole = render_timeline(items, settings, storage_dir=tmp_path / "a")
    chunked = render_timeline(items, settings, storage_dir=tmp_path / "b", chunk_seconds=0.3)
    assert len(chunked.segments_encoded) == 6 and len(whole.segments_encoded) == 1
    picks = _indices(whole.path)
    assert picks[0] == 6 and len(picks) == 16  # 0.2 s in: frames 5 and 6 round to slot 0
    assert {b - a for a, b in itertools.pairwise(picks)} == {2, 3}
    assert _indices(chunked.path) == picks
    for frame in (3, 4, 9):
        out = tmp_path / f"frame{frame}.png"
        render_frame(items, settings, (frame + 0.5) / FPS, out, storage_dir=tmp_path / "c")
        assert _indices(out) == [picks[frame]], f"render frame {frame}"


# ------------------------------------------------------------- joins by stream copy


@pytest.mark.parametrize("quality", ["draft", "standard", "high"])
def test_a_short_first_segment_keeps_the_video_track_whole(
        media: dict[str, Path], tmp_path: Path, quality: str) -> None:
    """A project opening with a 2-frame segment (no B-frames: decode times equal to
    presentation times) before segments with B-frames (decode times 2 frames early):
    joined as they came, the muxer bumped colliding decode times by a tick and the
    video track came out 2 frames short (1.0 s of 1.2 s)."""
    import av

    items = [replace(item(media["png"], "image", 0.4, size=(200, 300)),
                     transition=_t("crossfade", 0.2)),
             item(media["clip"], duration=1.0)]
    settings = RenderSettings(preset="480p", fmt="mp4", fps=FPS, quality=quality)
    result = render_timeline(items, settings, storage_dir=tmp_path / "st")
    info = probe(result.path)
    assert info["video"]["frames"] == result.frames == 12
    assert info["video"]["duration"] == pytest.approx(1.2, abs=0.002)
    assert abs(info["audio"]["duration"] - 1.2) < 1 / FPS
    with av.open(str(result.path)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        tick = 1 / (FPS * stream.time_base)
        assert [p.duration for p in packets] == [tick] * 12
        dts = [p.dts for p in packets]
        assert dts == sorted(dts) and all(p.pts >= p.dts for p in packets)
    with av.open(str(result.path)) as container:
        pts = sorted(float(f.pts * f.time_base) for f in container.decode(video=0))
    assert pts == pytest.approx([n / FPS for n in range(12)])
