"""The render engine, tested with real ffmpeg renders of tiny generated media.

Outputs are checked by probing and decoding them with PyAV: codecs, sizes, frame counts,
stream durations, pixel colours and audio levels.
"""

from __future__ import annotations

import array
import hashlib
import itertools
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest

from rendercli.errors import InvalidInput, OperationFailed
from rendercli.render.cache import segment_key
from rendercli.render.commands import GLOBAL_ARGS
from rendercli.render.engine import (
    RenderCancelled,
    RenderFailed,
    RenderSettings,
    RenderTimedOut,
    TimelineItem,
    render_timeline,
    validate_settings,
    validate_timeline,
)
from rendercli.render.inputs import INPUT_FORMAT_WHITELIST
from rendercli.render.presets import PRESETS
from rendercli.render.progress import ProgressTracker
from rendercli.render.runner import last_meaningful_line
from rendercli.render.timeline import frames_for, plan_timeline
from tests.media_factory import (
    make_audio,
    make_color_video,
    make_corrupt,
    make_image,
    make_video,
)

# Every test runs with each available ffmpeg: the bundled one and the system's (Debian).
pytestmark = pytest.mark.usefixtures("engine_ffmpeg")

FAST = RenderSettings(preset="480p", fmt="mp4", fps=10, quality="draft")


# --------------------------------------------------------------------------- helpers


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def item(path: Path, kind: str = "video", duration: float = 1.0, *, trim: float = 0.0,
         audio: bool | None = None, size: tuple[int, int] | None = (320, 240),
         rotation: int = 0) -> TimelineItem:
    if audio is None:  # as ingest would: probe for an audio stream
        import av

        with av.open(str(path)) as container:
            audio = kind != "image" and bool(container.streams.audio)
    has_audio = audio
    return TimelineItem(path=path, sha256=_sha(path), kind=kind,  # type: ignore[arg-type]
                        duration=duration, trim_start=trim, has_audio=has_audio,
                        width=size[0] if size else None, height=size[1] if size else None,
                        rotation=rotation)


def probe(path: Path) -> dict:
    """Codecs, sizes, decoded frame count, stream durations, audio peak and continuity."""
    import av

    info: dict = {"video": None, "audio": None}
    with av.open(str(path)) as container:
        for stream in container.streams:
            duration = (float(stream.duration * stream.time_base)
                        if stream.duration is not None else None)
            if stream.type == "video":
                info["video"] = {"codec": stream.codec_context.name,
                                 "width": stream.codec_context.width,
                                 "height": stream.codec_context.height,
                                 "duration": duration, "frames": 0, "last_time": None}
            elif stream.type == "audio":
                info["audio"] = {"codec": stream.codec_context.name,
                                 "rate": stream.codec_context.sample_rate,
                                 "channels": stream.codec_context.channels,
                                 "duration": duration, "samples": 0, "peak": 0.0,
                                 "gaps": 0, "end": 0.0}
    with av.open(str(path)) as container:
        expected_next = None
        for frame in container.decode(*container.streams):
            if frame.__class__.__name__ == "VideoFrame":
                info["video"]["frames"] += 1
                info["video"]["last_time"] = frame.time
            else:
                audio = info["audio"]
                if expected_next is not None and abs(frame.time - expected_next) > 0.002:
                    audio["gaps"] += 1
                expected_next = frame.time + frame.samples / frame.sample_rate
                audio["end"] = expected_next
                audio["samples"] += frame.samples
                if frame.format.name == "fltp":
                    for plane in frame.planes:
                        values = array.array("f", bytes(plane))[: frame.samples]
                        audio["peak"] = max(audio["peak"], max(map(abs, values), default=0.0))
    return info


def pixels(path: Path, index: int = 0):  # type: ignore[no-untyped-def]
    """(width, height, px) for decoded frame ``index``; px(x, y) -> (r, g, b)."""
    import av

    with av.open(str(path)) as container:
        for n, decoded in enumerate(container.decode(video=0)):
            frame = decoded
            if n == index:
                break
    rgb = frame.reformat(format="rgb24")
    plane = rgb.planes[0]
    data, stride = bytes(plane), plane.line_size

    def px(x: int, y: int) -> tuple[int, int, int]:
        offset = y * stride + 3 * x
        return data[offset], data[offset + 1], data[offset + 2]

    return rgb.width, rgb.height, px


def ffmpeg_children() -> list[int]:
    """PIDs of live children of this process that are ffmpeg (read from /proc)."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1: stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == me and comm.startswith("ffmpeg"):
            found.append(int(entry.name))
    return found


def leftovers(storage: Path) -> list[Path]:
    """Temporary or partial files anywhere under storage."""
    return [p for p in storage.rglob("*") if p.is_file() and (".tmp-" in p.name
                                                             or p.name.startswith(".concat"))]


def render(items, settings=FAST, storage: Path | None = None, **kwargs):  # type: ignore[no-untyped-def]
    assert storage is not None
    return render_timeline(items, settings, storage_dir=storage, **kwargs)


# --------------------------------------------------------------------------- media


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    return {
        "clip": make_video(d / "clip.mp4", duration=2.0, fps=25),
        "clip2": make_video(d / "clip2.mp4", duration=1.0, tone=550, pattern="testsrc"),
        "clip3": make_video(d / "clip3.mkv", duration=1.0, tone=330, size=(240, 160)),
        "silent": make_video(d / "silent.mp4", duration=1.0, audio=False),
        "odd": make_video(d / "odd.mp4", duration=1.0, size=(321, 241), audio=False),
        "rotated": make_video(d / "rotated.mp4", duration=1.0, rotate=90),
        "colors": make_color_video(d / "colors.mp4", colors=("red", "blue"), seconds_each=1.0),
        "image": make_image(d / "image.png"),
        "alpha": make_image(d / "alpha.png", alpha=True),
        "jpeg": make_image(d / "photo.jpg", size=(200, 300)),
        "tone": make_audio(d / "tone.mp3", duration=2.0),
        "tone_wav": make_audio(d / "tone.wav", duration=0.7, tone=880),
        "corrupt": make_corrupt(d / "corrupt.mp4"),
    }


@pytest.fixture()
def storage(tmp_path: Path) -> Path:
    return tmp_path / "storage"


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("changes", [
    {"preset": "4k"}, {"fmt": "avi"}, {"quality": "ultra"}, {"fps": 0}, {"fps": 121},
    {"fps": 29.97}, {"fps": True}, {"fmt": "gif", "fps": 60},
])
def test_validate_settings_rejects_unknown_values(changes: dict) -> None:
    with pytest.raises(InvalidInput):
        validate_settings(replace(RenderSettings(), **changes))


def test_validate_settings_accepts_every_documented_value() -> None:
    for preset in PRESETS:
        for fmt in ("mp4", "webm", "gif"):
            for quality in ("draft", "standard", "high"):
                validate_settings(RenderSettings(preset, fmt, 1, quality))
    validate_settings(RenderSettings(fps=120))


def test_validate_timeline(media: dict[str, Path]) -> None:
    with pytest.raises(InvalidInput, match="no video or image"):
        validate_timeline([])
    with pytest.raises(InvalidInput, match="no video or image"):
        validate_timeline([item(media["tone"], "audio", 1.0)])
    with pytest.raises(InvalidInput, match="duration"):
        validate_timeline([item(media["clip"], duration=0.0)])
    with pytest.raises(InvalidInput, match="trim"):
        validate_timeline([item(media["clip"], trim=-1.0)])
    validate_timeline([item(media["image"], "image"), item(media["tone"], "audio")])


def test_render_rejects_invalid_input_before_running_ffmpeg(
        media: dict[str, Path], storage: Path) -> None:
    with pytest.raises(InvalidInput):
        render([item(media["clip"])], replace(FAST, preset="nope"), storage)
    assert not storage.exists()


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (RenderFailed("boom", "full log"), "error: render failed: boom\n"),
        (RenderCancelled(), "error: render cancelled\n"),
        (RenderTimedOut(1.5), "error: render timed out after 1.5 s\n"),
    ],
)
def test_errors_are_operation_failures(error: Exception, line: str) -> None:
    """An engine error that reaches the CLI is one line on stderr and exit 1 (FAILED)."""
    import typer
    from typer.testing import CliRunner

    from rendercli.cli.app_group import RenderCliGroup

    app = typer.Typer(cls=RenderCliGroup)

    @app.command()
    def fail() -> None:
        raise error

    @app.command()
    def other() -> None:  # two commands, so the group is a group
        pass

    result = CliRunner().invoke(app, ["fail"], standalone_mode=True)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", line)
    assert isinstance(error, OperationFailed)


# --------------------------------------------------------------------------- pure units


def test_frame_plan_is_whole_frames(media: dict[str, Path]) -> None:
    assert frames_for(0.33, 10) == 3
    assert frames_for(0.35, 10) == 4
    assert frames_for(0.01, 30) == 1
    items = [item(media["clip"], duration=0.33), item(media["image"], "image", 0.35),
             item(media["tone"], "audio", 5.0), item(media["clip2"], duration=1.0)]
    plan = plan_timeline(items, 10)
    assert [p.frames for p in plan.visual] == [3, 4, 10]
    assert [p.start_frame for p in plan.visual] == [0, 3, 7]
    assert plan.total_frames == 17 and plan.duration == pytest.approx(1.7)
    assert plan.total_samples == 81600
    assert len(plan.background) == 1


def test_last_meaningful_line_skips_boilerplate() -> None:
    stderr = ("[in#0 @ 0x55d0c0a1b2c0] Error opening input: Invalid data found\n"
              "Error opening input file /x/corrupt.mp4.\n"
              "Error opening input files: Invalid data found when processing input\n"
              "Conversion failed!\n\n")
    assert last_meaningful_line(stderr) == (
        "Error opening input files: Invalid data found when processing input")
    assert last_meaningful_line("[mov,mp4 @ 0xdeadbeef] moov atom not found\n") == (
        "[mov,mp4] moov atom not found")
    assert last_meaningful_line("") == "ffmpeg failed without a message"
    assert "\n" not in last_meaningful_line("x" * 1000)


@pytest.mark.parametrize(("stderr", "cause"), [
    # Debian 12's ffmpeg 5.1 on a drawtext option it does not know
    ("[Parsed_drawtext_0 @ 0x56488010dd00] Option 'text_align' not found\n"
     "[AVFilterGraph @ 0x56488010ca00] Error initializing filter 'drawtext' with args "
     "'text=hi:text_align=C'\nError initializing complex filters.\nOption not found\n",
     "[Parsed_drawtext_0] Option 'text_align' not found"),
    # ffmpeg 7+ says it in one line, then a generic one
    ("[fc#0 @ 0x5636fee14d00] Error applying option 'text_alig' to filter 'drawtext': "
     "Option not found\nError : Option not found\n",
     "[fc#0] Error applying option 'text_alig' to filter 'drawtext': Option not found"),
    ("[AVFilterGraph @ 0x560b2d055b40] No such filter: 'nosuchfilter'\n"
     "Error initializing complex filters.\nInvalid argument\n",
     "[AVFilterGraph] No such filter: 'nosuchfilter'"),
])
def test_the_failure_line_is_the_one_naming_the_cause(stderr: str, cause: str) -> None:
    assert last_meaningful_line(stderr) == cause


def test_a_real_failure_quotes_the_line_naming_the_unknown_option(tmp_path: Path) -> None:
    from rendercli.media.ffmpeg_binary import ffmpeg_path
    from rendercli.render.runner import run

    with pytest.raises(RenderFailed) as failure:
        run([ffmpeg_path(), *GLOBAL_ARGS, "-f", "lavfi", "-i", "color=s=64x64:d=0.1",
             "-vf", "drawtext=text=hi:no_such_option=C", "-f", "null", "-"], timeout=30)
    assert "no_such_option" in failure.value.reason and "\n" not in failure.value.reason


def test_progress_tracker_is_throttled_monotonic_and_ends_at_100() -> None:
    now = [0.0]
    calls: list[tuple[float, float | None]] = []
    tracker = ProgressTracker({"a": 3.0, "b": 1.0}, lambda p, e: calls.append((p, e)),
                              clock=lambda: now[0])
    tracker.update({"a": 0.5, "b": 0.0})  # 37.5
    now[0] = 0.2
    tracker.update({"a": 0.6, "b": 0.0})  # throttled: within 0.5 s of the last call
    now[0] = 1.0
    tracker.update({"a": 0.4, "b": 0.0})  # lower than before: ignored
    tracker.update({"a": 1.0, "b": 1.0})  # complete but not published: capped below 100
    tracker.finish()
    assert [p for p, _ in calls] == [37.5, 99.9, 100.0]
    assert calls[1][1] is not None and calls[1][1] >= 0 and calls[-1][1] == 0.0


# --------------------------------------------------------------------------- renders


@pytest.mark.slow
def test_mp4_render_structure_poster_and_commands(media: dict[str, Path], storage: Path) -> None:
    items = [item(media["clip"], duration=1.0), item(media["image"], "image", 0.5)]
    result = render(items, storage=storage)
    assert result.path.parent == storage / "renders" and result.path.suffix == ".mp4"
    info = probe(result.path)
    assert info["video"]["codec"] == "h264" and info["audio"]["codec"] == "aac"
    assert (info["video"]["width"], info["video"]["height"]) == (854, 480)
    assert info["video"]["frames"] == 15
    assert info["audio"]["rate"] == 48000 and info["audio"]["channels"] == 2
    assert result.duration == pytest.approx(1.5)
    assert result.size == result.path.stat().st_size and result.sha256 == _sha(result.path)
    # faststart: the moov atom comes before the media data
    head = result.path.read_bytes()[:4096]
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1
                                          or head.find(b"moov") < head.find(b"mdat"))
    assert result.poster_path.read_bytes()[:3] == b"\xff\xd8\xff"
    assert pixels(result.poster_path)[:2] == (854, 480)
    image_segment = next(a for a in result.commands if str(media["image"]) in a)
    graph = image_segment[image_segment.index("-filter_complex") + 1]
    assert "loop=" in graph and "-loop" not in image_segment  # decoded once, then repeated
    assert any("-frames:v" in argv for argv in result.commands)
    for argv in result.commands:
        assert argv[1:1 + len(GLOBAL_ARGS)] == list(GLOBAL_ARGS)
        assert "-safe" not in argv and "-nostdin" in argv and "-y" in argv
        for n, arg in enumerate(argv):
            if arg == "-i" and argv[n + 1] in (str(media["clip"]), str(media["image"])):
                before = argv[:n]
                assert before[-1 - before[::-1].index("-protocol_whitelist") + 1] == "file"
                fmt_at = len(before) - 1 - before[::-1].index("-format_whitelist")
                assert argv[fmt_at + 1] == INPUT_FORMAT_WHITELIST
    assert leftovers(storage) == []


@pytest.mark.slow
def test_every_preset_has_its_dimensions(media: dict[str, Path], storage: Path) -> None:
    items = [item(media["clip2"], duration=0.2)]
    for preset, size in PRESETS.items():
        result = render(items, replace(FAST, preset=preset, fps=5), storage)
        info = probe(result.path)
        assert (info["video"]["width"], info["video"]["height"]) == size, preset
        assert info["video"]["frames"] == 1


@pytest.mark.slow
def test_webm_is_vp9_and_opus(media: dict[str, Path], storage: Path) -> None:
    items = [item(media["clip"], duration=0.8), item(media["silent"], duration=0.5)]
    result = render(items, replace(FAST, fmt="webm"), storage)
    info = probe(result.path)
    assert result.path.suffix == ".webm"
    assert info["video"]["codec"] == "vp9" and info["audio"]["codec"] == "opus"
    assert info["video"]["frames"] == 13
    assert info["audio"]["rate"] == 48000 and info["audio"]["channels"] == 2
    assert info["audio"]["end"] == pytest.approx(1.3, abs=0.1)


@pytest.mark.slow
def test_gif_is_palette_gif_without_audio(media: dict[str, Path], storage: Path) -> None:
    items = [item(media["clip"], duration=0.6), item(media["image"], "image", 0.4),
             item(media["tone"], "audio", 1.0)]
    result = render(items, replace(FAST, fmt="gif", preset="480p"), storage)
    info = probe(result.path)
    assert result.path.read_bytes()[:6] == b"GIF89a"
    assert info["video"]["codec"] == "gif" and info["audio"] is None
    assert info["video"]["frames"] == 10
    assert result.poster_path.exists()
    # the still (a test pattern) is recognisable after palette mapping: not black, not grey
    _w, _h, px = pixels(result.path, index=8)
    assert len({px(x, 240) for x in range(120, 740, 40)}) > 4


@pytest.mark.slow
def test_rotated_portrait_clip_is_pillarboxed(media: dict[str, Path], storage: Path) -> None:
    # 320x240 with a 90 degree display rotation is 240x320 portrait: it fills 360 of 854 px
    result = render([item(media["rotated"], rotation=90, size=(240, 320))], storage=storage)
    w, h, px = pixels(result.path)
    assert (w, h) == (854, 480)
    black = [px(x, y) for x in (0, 5, 200, 650, 853) for y in (0, 240, 479)]
    assert all(max(c) < 20 for c in black), black
    assert max(px(427, 240)) > 60 and max(px(300, 100)) > 60


@pytest.mark.slow
def test_odd_source_size_and_jpeg_portrait(media: dict[str, Path], storage: Path) -> None:
    items = [item(media["odd"], size=(321, 241)), item(media["jpeg"], "image", 0.5)]
    result = render(items, storage=storage)
    info = probe(result.path)
    assert (info["video"]["width"], info["video"]["height"]) == (854, 480)
    assert info["video"]["frames"] == 15
    w, _h, px = pixels(result.path, index=12)  # the 200x300 portrait photo: pillarboxed
    assert max(px(5, 240)) < 20 and max(px(w - 5, 240)) < 20


@pytest.mark.slow
def test_image_alpha_is_composited_on_black(media: dict[str, Path], storage: Path) -> None:
    result = render([item(media["alpha"], "image", 0.3)], storage=storage)
    _w, _h, px = pixels(result.path)
    r, g, b = px(427, 240)  # half-transparent pure red over black
    assert 100 <= r <= 150 and g < 25 and b < 25
    assert max(px(5, 240)) < 20  # 4:3 still pillarboxed


@pytest.mark.slow
def test_clips_without_audio_get_exact_silence(media: dict[str, Path], storage: Path) -> None:
    items = [item(media["silent"], duration=0.7), item(media["image"], "image", 0.5)]
    result = render(items, storage=storage)
    audio = probe(result.path)["audio"]
    assert audio is not None and audio["codec"] == "aac"
    assert audio["duration"] == pytest.approx(1.2, abs=0.001)
    assert audio["gaps"] == 0 and audio["samples"] >= 1.2 * 48000
    assert audio["peak"] < 0.001


@pytest.mark.slow
def test_background_audio_is_mixed_and_cut(media: dict[str, Path], storage: Path) -> None:
    # picture has no sound; a 2 s tone under a 1 s picture is heard and cut to 1 s
    items = [item(media["silent"], duration=1.0), item(media["tone"], "audio", 2.0)]
    result = render(items, storage=storage)
    info = probe(result.path)
    assert info["audio"]["peak"] > 0.02  # a -18 dBFS tone at half gain; silence is ~0
    assert info["audio"]["duration"] == pytest.approx(1.0, abs=0.001)
    assert info["video"]["frames"] == 10


@pytest.mark.slow
def test_trim_selects_the_right_part(media: dict[str, Path], storage: Path) -> None:
    # colors.mp4: red for 1 s then blue for 1 s; trim into the blue half, then the red half
    items = [item(media["colors"], trim=1.2, duration=0.6),
             item(media["colors"], trim=0.1, duration=0.5)]
    result = render(items, storage=storage)
    info = probe(result.path)
    assert info["video"]["frames"] == 11
    assert info["video"]["duration"] == pytest.approx(1.1, abs=0.001)
    r, _g, b = pixels(result.path, index=0)[2](427, 240)
    assert b > 150 and r < 60
    r, _g, b = pixels(result.path, index=5)[2](427, 240)
    assert b > 150 and r < 60
    r, _g, b = pixels(result.path, index=7)[2](427, 240)
    assert r > 150 and b < 60


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_long_timeline_exact_duration_and_av_sync(
        media: dict[str, Path], storage: Path, fmt: str) -> None:
    m = media
    items = [
        item(m["clip"], duration=0.33, trim=0.25), item(m["image"], "image", 0.27),
        item(m["silent"], duration=0.41), item(m["clip2"], duration=0.5),
        item(m["clip3"], duration=0.35, trim=0.3), item(m["alpha"], "image", 0.2),
        item(m["odd"], duration=0.45), item(m["clip"], duration=0.6, trim=1.1),
        item(m["rotated"], duration=0.3), item(m["jpeg"], "image", 0.33),
        item(m["tone_wav"], "audio", 0.7), item(m["clip2"], duration=0.26, trim=0.5),
        item(m["tone"], "audio", 1.0),
    ]
    fps = 10
    expected_frames = sum(frames_for(i.duration, fps) for i in items if i.kind != "audio")
    result = render(items, replace(FAST, fps=fps, fmt=fmt), storage)
    info = probe(result.path)
    assert info["video"]["frames"] == expected_frames == result.frames
    video_end = expected_frames / fps
    assert result.duration == pytest.approx(video_end)
    # WebM stores no stream durations: use where the last frame / last sample ends
    measured_video = info["video"]["duration"] or info["video"]["last_time"] + 1 / fps
    measured_audio = info["audio"]["duration"] or info["audio"]["end"]
    assert measured_video == pytest.approx(video_end, abs=0.002)
    assert info["video"]["last_time"] == pytest.approx(video_end - 1 / fps, abs=0.002)
    assert abs(measured_audio - video_end) < 1 / fps
    assert info["audio"]["gaps"] == 0


@pytest.mark.slow
def test_incremental_rerender_encodes_only_the_changed_segment(
        media: dict[str, Path], storage: Path) -> None:
    m = media
    base = [item(m["clip"], duration=0.5), item(m["image"], "image", 0.3),
            item(m["clip2"], duration=0.4)]
    first = render(base, storage=storage)
    assert not first.cache_hit
    assert len(first.segments_encoded) == 3 and first.segments_reused == []

    changed = [base[0], base[1], item(m["clip3"], duration=0.4)]
    plan = plan_timeline(changed, FAST.fps)
    new_key = segment_key(plan.segments[2], FAST)
    second = render(changed, storage=storage)
    assert second.segments_encoded == [new_key]
    assert second.segments_reused == first.segments_encoded[:2]
    assert probe(second.path)["video"]["frames"] == 12

    trimmed = [replace(base[0], trim_start=0.5), base[1], changed[2]]
    third = render(trimmed, storage=storage)
    assert third.segments_encoded == [segment_key(plan_timeline(trimmed, 10).segments[0], FAST)]

    added = [*changed, item(m["silent"], duration=0.3)]
    fourth = render(added, storage=storage)
    assert fourth.segments_encoded == [segment_key(plan_timeline(added, 10).segments[3], FAST)]
    assert len(fourth.segments_reused) == 3
    assert probe(fourth.path)["video"]["frames"] == 15

    other_settings = render(added, replace(FAST, quality="standard"), storage)
    assert len(other_settings.segments_encoded) == 4


@pytest.mark.slow
def test_unchanged_rerender_is_a_cache_hit_unless_disabled(
        media: dict[str, Path], storage: Path) -> None:
    items = [item(media["clip"], duration=0.5), item(media["tone"], "audio", 0.5)]
    first = render(items, storage=storage)
    started = time.monotonic()
    hit = render(items, storage=storage)
    assert time.monotonic() - started < 0.5
    assert hit.cache_hit and hit.segments_encoded == [] and hit.commands == []
    assert hit.path != first.path and hit.path.read_bytes() == first.path.read_bytes()
    assert hit.sha256 == first.sha256 and hit.poster_path.exists()
    first.path.unlink()  # the job's output is its own file: deleting it breaks nothing
    assert render(items, storage=storage).cache_hit

    # a different background changes the sound: not a hit, yet no segment is re-encoded
    other = render([items[0], item(media["tone_wav"], "audio", 0.5)], storage=storage)
    assert not other.cache_hit and other.segments_encoded == []

    forced = render(items, replace(FAST, use_cache=False), storage)
    assert not forced.cache_hit and forced.segments_encoded == first.segments_encoded
    assert forced.commands


def _reddish(rgb: tuple[int, int, int]) -> bool:
    r, g, b = rgb
    return r > 150 and g < 90 and b < 90


@pytest.mark.slow
@pytest.mark.parametrize("tamper", ["swapped", "same-size"])
def test_a_tampered_cached_segment_is_encoded_again(
        media: dict[str, Path], storage: Path, tamper: str) -> None:
    items = [item(media["colors"], duration=1.0), item(media["clip2"], duration=0.3)]
    first = render(items, storage=storage)
    red_key, other_key = first.segments_encoded
    segment = storage / "cache" / "segments" / f"{red_key}.mp4"
    if tamper == "swapped":  # another valid segment's bytes: a size check can't see it
        replacement = (storage / "cache" / "segments" / f"{other_key}.mp4").read_bytes()
    else:
        data = bytearray(segment.read_bytes())
        data[len(data) // 2] ^= 0xFF
        replacement = bytes(data)
    segment.write_bytes(replacement)

    # A different soundtrack: not a whole-render hit, so segments are looked up one by one.
    again = render([*items, item(media["tone"], "audio", 1.0)], storage=storage)

    assert again.segments_encoded == [red_key] and again.segments_reused == [other_key]
    assert segment.read_bytes() != replacement
    assert _reddish(pixels(again.path)[2](427, 240))
    assert probe(again.path)["video"]["frames"] == 13


@pytest.mark.slow
@pytest.mark.parametrize("part", ["mp4", "jpg"])
def test_a_tampered_cached_render_is_rendered_again(
        media: dict[str, Path], storage: Path, part: str) -> None:
    items = [item(media["colors"], duration=1.0)]
    first = render(items, storage=storage)
    entry = storage / "cache" / "renders" / f"{first.render_key}.{part}"
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: the old check only compared sizes
    tampered = entry.with_name("tampered")
    tampered.write_bytes(bytes(data))
    os.replace(tampered, entry)

    again = render(items, storage=storage)

    assert not again.cache_hit and again.segments_reused == first.segments_encoded
    assert again.commands  # the mux (and poster) ran again
    assert again.sha256 == _sha(again.path)
    assert _reddish(pixels(again.path)[2](427, 240))
    assert entry.read_bytes() != bytes(data)  # the entry was replaced
    third = render(items, storage=storage)
    assert third.cache_hit and third.sha256 == again.sha256


@pytest.mark.slow
def test_output_name_is_used_and_checked(media: dict[str, Path], storage: Path) -> None:
    items = [item(media["clip2"], duration=0.3)]
    result = render(items, storage=storage, name="job-42")
    assert result.path == storage / "renders" / "job-42.mp4"
    assert result.poster_path == storage / "renders" / "job-42.jpg"
    for bad in ("../escape", "a/b", ".hidden", ""):
        with pytest.raises(InvalidInput):
            render(items, storage=storage, name=bad)


@pytest.mark.slow
def test_missing_cached_output_is_rendered_again(media: dict[str, Path], storage: Path) -> None:
    items = [item(media["clip2"], duration=0.3)]
    render(items, storage=storage)
    shutil.rmtree(storage / "cache" / "renders")
    (storage / "cache" / "renders").mkdir()
    again = render(items, storage=storage)
    assert not again.cache_hit and again.segments_encoded == []
    assert probe(again.path)["video"]["frames"] == 3


@pytest.mark.slow
def test_corrupt_source_fails_with_one_line_and_leaves_nothing(
        media: dict[str, Path], storage: Path) -> None:
    items = [item(media["clip2"], duration=0.5), item(media["corrupt"], duration=1.0, audio=False)]
    with pytest.raises(RenderFailed) as failure:
        render(items, storage=storage)
    reason = failure.value.reason
    assert reason and "\n" not in reason and "Invalid data" in reason
    assert "corrupt.mp4" in failure.value.log
    assert list((storage / "renders").iterdir()) == []
    assert leftovers(storage) == []
    assert [p for p in (storage / "tmp").iterdir() if p.name.startswith("render-")] == []
    assert ffmpeg_children() == []


@pytest.mark.slow
def test_trim_past_the_end_of_the_source_fails_clearly(
        media: dict[str, Path], storage: Path) -> None:
    with pytest.raises(RenderFailed) as failure:
        render([item(media["clip2"], duration=0.5, trim=5.0)], storage=storage)
    assert "0 of 5 frames" in failure.value.reason
    assert list((storage / "renders").iterdir()) == []
    assert list((storage / "cache" / "segments").iterdir()) == [] and leftovers(storage) == []


class ChildSpy:
    """A should_cancel that records whether ffmpeg children were seen running."""

    def __init__(self, cancel_after_seen: bool) -> None:
        self.seen: set[int] = set()
        self.cancel_after_seen = cancel_after_seen

    def __call__(self) -> bool:
        self.seen.update(ffmpeg_children())
        return self.cancel_after_seen and bool(self.seen)


SLOW_SETTINGS = RenderSettings(preset="2160p", fmt="mp4", fps=30, quality="high")


@pytest.mark.slow
def test_timeout_kills_ffmpeg_and_publishes_nothing(media: dict[str, Path], storage: Path) -> None:
    spy = ChildSpy(cancel_after_seen=False)
    items = [item(media["clip"], duration=2.0), item(media["colors"], duration=2.0)]
    started = time.monotonic()
    with pytest.raises(RenderTimedOut):
        render(items, SLOW_SETTINGS, storage, timeout=1.0, should_cancel=spy)
    assert time.monotonic() - started < 5.0
    assert spy.seen, "ffmpeg never ran: the test proves nothing"
    assert ffmpeg_children() == []
    assert all(not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
               .split(")")[1].split()[0] for pid in spy.seen)
    assert list((storage / "renders").iterdir()) == [] and leftovers(storage) == []
    assert list((storage / "cache" / "segments").iterdir()) == []


@pytest.mark.slow
def test_cancel_kills_ffmpeg_and_publishes_nothing(media: dict[str, Path], storage: Path) -> None:
    spy = ChildSpy(cancel_after_seen=True)
    items = [item(media["clip"], duration=2.0)]
    with pytest.raises(RenderCancelled):
        render(items, SLOW_SETTINGS, storage, should_cancel=spy)
    assert spy.seen and ffmpeg_children() == []
    assert list((storage / "renders").iterdir()) == [] and leftovers(storage) == []


@pytest.mark.slow
def test_exception_in_a_callback_kills_ffmpeg(media: dict[str, Path], storage: Path) -> None:
    def explode(percent: float, eta: float | None) -> None:
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        render([item(media["clip"], duration=2.0)], SLOW_SETTINGS, storage, on_progress=explode)
    assert ffmpeg_children() == []
    assert leftovers(storage) == []


@pytest.mark.slow
def test_progress_is_monotonic_throttled_and_ends_at_100(
        media: dict[str, Path], storage: Path) -> None:
    calls: list[tuple[float, float, float | None]] = []
    items = [item(media["clip"], duration=2.0), item(media["clip2"], duration=1.0),
             item(media["image"], "image", 1.0)]
    settings = RenderSettings(preset="720p", fmt="mp4", fps=30, quality="standard")
    render(items, settings, storage,
           on_progress=lambda p, eta: calls.append((time.monotonic(), p, eta)))
    percents = [p for _t, p, _e in calls]
    assert percents[-1] == 100.0 and percents.count(100.0) == 1
    assert percents == sorted(percents) and all(0 <= p <= 100 for p in percents)
    assert len(calls) >= 2, "expected intermediate progress before the final 100"
    times = [t for t, _p, _e in calls[:-1]]
    assert all(b - a >= 0.45 for a, b in itertools.pairwise(times))
    assert calls[-1][2] == 0.0


def test_sweep_removes_untagged_leftovers_by_age(tmp_path: Path) -> None:
    """Names without an owner tag (older versions) fall back to an age limit."""
    import os
    import time

    from rendercli.storage import clean_temp_files

    segments = tmp_path / "cache" / "segments"
    segments.mkdir(parents=True)
    (tmp_path / "renders").mkdir()
    work = tmp_path / "tmp" / "render-abc"
    work.mkdir(parents=True)
    old = [segments / ".k.tmp-1.mp4", segments / ".concat-9.ffconcat",
           tmp_path / "renders" / ".job.tmp-2.mp4", work]
    for path in old[:3]:
        path.write_bytes(b"x")
    kept = [segments / "key.mp4", segments / ".k.tmp-fresh.mp4"]
    for path in kept:
        path.write_bytes(b"x")
    long_ago = time.time() - 7200
    for path in [*old, kept[0]]:
        os.utime(path, (long_ago, long_ago))
    assert clean_temp_files(tmp_path, older_than=3600) == 4
    assert not any(p.exists() for p in old)
    assert all(p.exists() for p in kept)  # a real segment, and a render still running
