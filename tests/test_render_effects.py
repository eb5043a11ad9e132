"""Transitions, sound control, text, titles, motion and loudness in the render engine.

Real ffmpeg renders of tiny generated media, checked by decoding the output with PyAV:
frame counts, stream durations, pixels where an effect is visible, and audio levels.
"""

from __future__ import annotations

import array
import hashlib
import itertools
import json
import math
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from rendercli.errors import InvalidInput
from rendercli.render.cache import segment_key
from rendercli.render.engine import render_timeline
from rendercli.render.graph import escape_value, filter_spec
from rendercli.render.text import DEFAULT_FONT, font_metrics, layout_text, parse_font
from rendercli.render.timeline import (
    TRANSITIONS,
    RenderSettings,
    TextOverlay,
    TitleCard,
    Transition,
    frames_for,
    parse_color,
    parse_volume,
    plan_timeline,
    title_item,
    validate_settings,
    validate_timeline,
)
from tests.ffmpegs import bundled_ffmpeg
from tests.media_factory import make_audio, make_color_video, make_image, make_video, run_ffmpeg
from tests.test_render_engine import FAST, item, pixels, probe

HOSTILE_TEXT = (
    "Quotes ' \" ` and 100% %{pts} %{eif:1:d} ${HOME} : ; , [in] \\ \\n {} = @ # \n"
    "Second line: emoji 😀🎬, RTL עברית العربية, CJK 漢字, combining é\u0301\n"
    "\tTabbed\r\nCRLF and a NUL-free control \x07 bell; "
    + "wrap " * 380  # 2,000 characters in all
)[:2000]

# Every test runs with each available ffmpeg: the bundled one and the system's (Debian).
pytestmark = pytest.mark.usefixtures("engine_ffmpeg")


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("fx")
    ramp = d / "ramp.png"
    # a horizontal grey ramp: a pan shows as a steady change of the mean brightness
    run_ffmpeg("-f", "lavfi", "-i", "color=c=black:s=320x240,format=gray,"
               "geq=lum='40+X*175/W'", "-frames:v", "1", str(ramp))
    centre = d / "centre.png"  # black, with a white square in the middle
    run_ffmpeg("-f", "lavfi", "-i", "color=c=black:s=320x240,"
               "drawbox=x=80:y=60:w=160:h=120:color=white:t=fill", "-frames:v", "1",
               str(centre))
    white = d / "white.png"
    run_ffmpeg("-f", "lavfi", "-i", "color=c=white:s=320x240", "-frames:v", "1", str(white))
    return {
        "red": make_color_video(d / "red.mp4", colors=("red",), seconds_each=1.0),
        "blue": make_color_video(d / "blue.mp4", colors=("blue",), seconds_each=1.0),
        "wide": make_color_video(d / "wide.mp4", colors=("blue",), seconds_each=1.0,
                                 size=(854, 480)),
        "green": make_color_video(d / "green.mp4", colors=("lime",), seconds_each=1.0,
                                  audio=False),
        "clip": make_video(d / "clip.mp4", duration=2.0, tone=440),
        "silent": make_video(d / "silent.mp4", duration=2.0, audio=False),
        "image": make_image(d / "image.png"),
        "ramp": ramp,
        "white": white,
        "centre": centre,
        "music": make_audio(d / "music.wav", duration=4.0, tone=660),
        "music2": make_audio(d / "music2.mp3", duration=1.5, tone=990),
    }


@pytest.fixture()
def storage(tmp_path: Path) -> Path:
    return tmp_path / "storage"


def render(items, settings=FAST, storage: Path | None = None, **kwargs):  # type: ignore[no-untyped-def]
    assert storage is not None
    return render_timeline(items, settings, storage_dir=storage, **kwargs)


def fade(seconds: float, kind: str = "fade") -> Transition:
    return Transition(kind, seconds)


def samples(path: Path) -> list[float]:
    """The first channel of the decoded audio, as floats."""
    import av

    out = array.array("f")
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=48000)
        for frame in container.decode(audio=0):
            for chunk in resampler.resample(frame):
                out.frombytes(bytes(chunk.planes[0])[: 4 * chunk.samples])
    return list(out)


def tone_level(values: list[float], start: float, end: float, freq: float) -> float:
    """Amplitude of one frequency in [start, end) seconds (Goertzel)."""
    chunk = values[int(start * 48000): int(end * 48000)]
    coeff = 2 * math.cos(2 * math.pi * freq / 48000)
    s1 = s2 = 0.0
    for x in chunk:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2 * math.sqrt(max(power, 0.0)) / max(1, len(chunk))


def rms(values: list[float], start: float, end: float) -> float:
    chunk = values[int(start * 48000): int(end * 48000)]
    return math.sqrt(sum(x * x for x in chunk) / max(1, len(chunk)))


def integrated_loudness(path: Path) -> float:
    """EBU R128 integrated loudness of a file, measured by the bundled ffmpeg's ebur128
    filter (a measuring tool, whichever ffmpeg rendered the file)."""
    proc = subprocess.run([bundled_ffmpeg(), "-nostdin", "-hide_banner", "-i", str(path),
                           "-filter_complex", "ebur128=framelog=quiet", "-f", "null", "-"],
                          capture_output=True, text=True, check=True)
    summary = proc.stderr[proc.stderr.rindex("Summary:"):]
    return float(summary.split("I:")[1].split("LUFS")[0])


# --------------------------------------------------------------------------- pure units


@pytest.mark.parametrize("value", [
    "plain", "C:\\fonts\\a.ttf", "it's", "a:b=c", "x,y;z[0]", " lead and trail ",
    "new\nline", "50% {x} @home", "back\\\\slash'\\'", "ünï cödé ✓",
])
def test_escape_value_round_trips_through_ffmpegs_two_parsers(value: str) -> None:
    """Undoing both of ffmpeg's unescaping passes (av_get_token: a backslash keeps the
    next character) gives the value back, and no separator is left bare at either pass.
    The real thing is checked by test_hostile_font_paths_reach_drawtext_intact."""
    escaped = escape_value(value)
    def unescape(token: str) -> str:
        out, i = [], 0
        while i < len(token):
            if token[i] == "\\" and i + 1 < len(token):
                out.append(token[i + 1])
                i += 2
            else:
                out.append(token[i])
                i += 1
        return "".join(out)

    assert unescape(unescape(escaped)) == value
    for ch in ":=,;[]'":  # no separator survives unescaped at either level
        assert ch not in unescape(escaped).replace("\\" + ch, "")
    with pytest.raises(ValueError):
        escape_value("nul\x00")


@pytest.mark.slow
def test_hostile_font_paths_reach_drawtext_intact(tmp_path: Path) -> None:
    names = ["we:ird' dir\\x, [a];b =c ", " lead", "new\nline", "%{pts}", "ü✓"]
    out = tmp_path / "out.png"
    for name in names:
        folder = tmp_path / name
        folder.mkdir()
        font = folder / f"f:o'n\\t,[{name}].ttf"
        shutil.copy(DEFAULT_FONT, font)
        text = folder / "t'x:t.txt"
        text.write_text("Hi")
        graph = "[0:v]" + filter_spec("drawtext", fontfile=font, textfile=text,
                                      expansion="none", fontsize=40,
                                      fontcolor="white") + "[v]"
        run_ffmpeg("-f", "lavfi", "-i", "color=c=black:s=160x90:d=1", "-filter_complex",
                   graph, "-map", "[v]", "-frames:v", "1", "-update", "1", str(out))
        _w, _h, px = pixels(out)
        assert max(max(px(x, y)) for x in range(0, 80) for y in range(0, 60)) > 200, name


def test_volume_and_colour_parsing() -> None:
    assert parse_volume("0.5") == 0.5
    assert parse_volume("4") == 4.0
    assert parse_volume("-6dB") == pytest.approx(0.501, abs=0.001)
    assert parse_volume("+12 dB") == pytest.approx(3.981, abs=0.001)
    assert parse_volume("-inf dB") == 0.0
    for bad in ("5", "-0.1", "13dB", "loud", "nan", "inf", "NaN dB", ""):
        with pytest.raises(InvalidInput):
            parse_volume(bad)
    assert parse_color("White") == "0xffffff"
    assert parse_color("#1D3557") == "0x1d3557"
    for bad in ("#12345", "white:alpha", "red@0.5", "x'y"):
        with pytest.raises(InvalidInput):
            parse_color(bad)


def test_validation_names_the_problem(fx: dict[str, Path]) -> None:
    red, blue = item(fx["red"]), item(fx["blue"])
    cases = [
        ([replace(red, transition=fade(1.5)), blue], "longer than the item"),
        ([replace(red, transition=Transition("spin", 0.5)), blue], "unknown transition"),
        ([replace(red, transition=Transition("fade", 0)), blue], "needs a length"),
        ([replace(red, transition=fade(-1)), blue], "transition length"),
        ([replace(red, transition=fade(0.6)), replace(blue, transition=fade(0.6)),
          item(fx["red"])], "overlap each other"),
        ([replace(red, volume=4.5)], "volume"),
        ([replace(red, volume=math.nan)], "volume"),
        ([replace(red, fade_in=0.7, fade_out=0.7)], "together exceed"),
        ([replace(red, motion="zoom-in")], "still images only"),
        ([replace(item(fx["image"], "image"), motion="spin")], "unknown motion"),
        ([replace(red, duck=True)], "only music"),
        ([red, replace(item(fx["music"], "audio", 1.0), transition=fade(0.5))], "music"),
        ([replace(red, texts=(TextOverlay(""),))], "must not be empty"),
        ([replace(red, texts=(TextOverlay("x" * 2001),))], "at most 2000"),
        ([replace(red, texts=(TextOverlay("x", start=1.0),))], "after the item"),
        ([replace(red, texts=(TextOverlay("x", placement="bottom"),))], "placement"),
        ([replace(red, texts=(TextOverlay("x", color="#12"),))], "colour"),
        ([title_item(TitleCard("x", size="huge"), 1.0)], "title size"),
        ([replace(title_item(TitleCard("x"), 1.0), title=None)], "needs its card"),
    ]
    for items, message in cases:
        with pytest.raises(InvalidInput, match=message):
            validate_timeline(items, 10)
    # the seconds-only check (no frame rate yet) catches an over-long transition too
    with pytest.raises(InvalidInput, match="longer than an item"):
        validate_timeline([replace(red, transition=fade(1.5)), blue])
    with pytest.raises(InvalidInput, match="loudness"):
        validate_settings(replace(FAST, loudness=3.0))
    # a transition on the last picture item has nothing to join: it is ignored
    validate_timeline([red, replace(blue, transition=fade(0.5))], 10)


def test_plan_with_transitions_is_whole_frames(fx: dict[str, Path]) -> None:
    items = [replace(item(fx["red"], duration=1.0), transition=fade(0.3)),
             item(fx["music"], "audio", 2.0),
             replace(item(fx["blue"], duration=0.8), transition=fade(0.24, "wipeleft")),
             item(fx["image"], "image", 0.5)]
    plan = plan_timeline(items, 10)
    assert [p.frames for p in plan.visual] == [10, 8, 5]
    assert [(p.head, p.tail) for p in plan.visual] == [(0, 3), (3, 2), (2, 0)]
    assert [p.start_frame for p in plan.visual] == [0, 7, 13]
    assert plan.total_frames == 23 - 3 - 2 == 18
    assert [(s.label, s.start_frame, s.frames) for s in plan.segments] == [
        ("segment 1", 0, 7), ("transition 1-2", 7, 3), ("segment 2", 10, 3),
        ("transition 2-3", 13, 2), ("segment 3", 15, 3)]
    assert sum(s.frames for s in plan.segments) == plan.total_frames
    # a transition as long as a whole item leaves that item no body of its own
    whole = plan_timeline([replace(items[0], transition=fade(1.0)),
                           item(fx["blue"], duration=1.0)], 10)
    assert [s.label for s in whole.segments] == ["transition 1-2"]
    assert whole.total_frames == 10


def test_text_layout_wraps_to_the_frame_and_shrinks_long_text() -> None:
    metrics = font_metrics(DEFAULT_FONT)
    for frame in ((854, 480), (1080, 1920), (320, 240)):
        for fraction in (1 / 24, 1 / 10):
            layout = layout_text(HOSTILE_TEXT, metrics, frame, fraction, box=True)
            assert all(metrics.width(line, layout.size) <= frame[0] * 0.9
                       for line in layout.lines)
            height = len(layout.lines) * (metrics.line_px(layout.size) + layout.line_spacing)
            assert height <= frame[1] * 0.9
            assert all("\t" not in line and "\r" not in line and "\x07" not in line
                       for line in layout.lines)
    short = layout_text("Jane Doe, Director", metrics, (854, 480), 1 / 16, box=True)
    assert short.lines == ("Jane Doe, Director",) and short.size == 30
    with pytest.raises(ValueError):
        parse_font(b"\x00\x01\x00\x00" + b"\x00" * 8)
    with pytest.raises(ValueError):
        parse_font(b"not a font at all")


def test_shipped_font_is_small_readable_and_licensed() -> None:
    assert DEFAULT_FONT.stat().st_size < 1_000_000
    licence = (DEFAULT_FONT.parent / "OFL.txt").read_text()
    assert "SIL OPEN FONT LICENSE" in licence and "Version 1.1" in licence
    metrics = font_metrics(DEFAULT_FONT)
    assert all(ord(ch) in metrics.advances for ch in "AZaz09 ÄÖÜßéçñ€ΩЖ")


# --------------------------------------------------------------------------- transitions


@pytest.mark.slow
def test_fade_is_a_blend_and_the_timeline_shortens(fx: dict[str, Path], storage: Path) -> None:
    items = [replace(item(fx["red"]), transition=fade(0.4)), item(fx["blue"])]
    result = render(items, storage=storage)
    info = probe(result.path)
    assert info["video"]["frames"] == result.frames == 20 - 4
    assert info["video"]["duration"] == pytest.approx(1.6, abs=0.001)
    assert info["audio"]["duration"] == pytest.approx(1.6, abs=0.001)
    assert info["audio"]["gaps"] == 0
    r, _g, b = pixels(result.path, 5)[2](427, 240)
    assert r > 200 and b < 40  # still red before the transition
    r, _g, b = pixels(result.path, 8)[2](427, 240)  # transition frame 2 of 4: half way
    assert 90 < r < 165 and 90 < b < 165
    r, _g, b = pixels(result.path, 12)[2](427, 240)
    assert b > 200 and r < 40
    assert len(result.segments_encoded) == 3


@pytest.mark.slow
@pytest.mark.parametrize("kind", [k for k in TRANSITIONS if k != "none"])
def test_every_transition_kind_renders_exactly(
        fx: dict[str, Path], storage: Path, kind: str) -> None:
    items = [replace(item(fx["red"], duration=0.5), transition=fade(0.3, kind)),
             replace(item(fx["green"], duration=0.5))]
    result = render(items, storage=storage)
    info = probe(result.path)
    assert info["video"]["frames"] == 10 - 3
    # the first frame of the transition is the outgoing picture; later ones change
    assert pixels(result.path, 2)[2](427, 240)[0] > 200
    assert pixels(result.path, 4)[2](427, 240) != pixels(result.path, 2)[2](427, 240) or \
        pixels(result.path, 4)[2](100, 100) != pixels(result.path, 2)[2](100, 100)


@pytest.mark.slow
def test_clip_sound_crossfades_under_a_transition(fx: dict[str, Path], storage: Path) -> None:
    # red has a 440 Hz tone, green has no sound: the tone fades out over the transition
    items = [replace(item(fx["red"]), transition=fade(0.6)), item(fx["green"])]
    result = render(items, storage=storage)
    values = samples(result.path)
    assert len(values) == pytest.approx(1.4 * 48000, abs=1100)  # AAC priming aside
    before = tone_level(values, 0.1, 0.4, 440)
    middle = tone_level(values, 0.62, 0.78, 440)
    after = tone_level(values, 1.05, 1.35, 440)
    assert before > 0.05
    assert 0.2 * before < middle < 0.8 * before
    assert after < 0.02 * before


# --------------------------------------------------------------------------- incremental


@pytest.mark.slow
def test_changing_text_or_a_transition_reencodes_only_that_segment(
        fx: dict[str, Path], storage: Path) -> None:
    base = [replace(item(fx["red"]), transition=fade(0.3)),
            replace(item(fx["clip"], duration=1.5), transition=fade(0.3, "wipeleft")),
            item(fx["blue"])]
    first = render(base, storage=storage)
    assert len(first.segments_encoded) == 5  # three bodies, two transitions

    texted = list(base)
    texted[1] = replace(base[1], texts=(TextOverlay("Jane Doe", start=0.4, duration=0.6),))
    plan = plan_timeline(texted, FAST.fps)
    second = render(texted, storage=storage)
    assert second.segments_encoded == [segment_key(plan.segments[2], FAST)]
    assert plan.segments[2].label == "segment 2"

    changed = list(texted)
    changed[0] = replace(texted[0], transition=fade(0.3, "circleopen"))
    plan = plan_timeline(changed, FAST.fps)
    third = render(changed, storage=storage)
    assert third.segments_encoded == [segment_key(plan.segments[1], FAST)]
    assert plan.segments[1].label == "transition 1-2"

    # text that reaches into a transition is drawn there too: both are re-encoded
    spanning = list(changed)
    spanning[1] = replace(changed[1], texts=(TextOverlay("Jane Doe", start=0.0),))
    plan = plan_timeline(spanning, FAST.fps)
    fourth = render(spanning, storage=storage)
    assert fourth.segments_encoded == [segment_key(plan.segments[n], FAST) for n in (1, 2, 3)]


# --------------------------------------------------------------------------- text and titles


def region_diff(a: Path, b: Path, index: int, box: tuple[int, int, int, int]) -> float:
    """Mean absolute difference (0..255 per channel) of a region of two renders' frame."""
    _w, _h, pa = pixels(a, index)
    _w, _h, pb = pixels(b, index)
    x0, y0, x1, y1 = box
    diffs = [sum(abs(c - d) for c, d in zip(pa(x, y), pb(x, y), strict=True)) / 3
             for x in range(x0, x1, 2) for y in range(y0, y1, 2)]
    return sum(diffs) / len(diffs)


@pytest.mark.slow
def test_lower_third_differs_from_the_bare_clip_only_where_and_when_shown(
        fx: dict[str, Path], storage: Path) -> None:
    bare = render([item(fx["blue"])], storage=storage)
    texted = render([replace(item(fx["blue"]), texts=(
        TextOverlay("Jane Doe", start=0.3, duration=0.4, placement="lower-third"),))],
        storage=storage)
    lower = (360, 395, 495, 430)  # where "Jane Doe" and its box are drawn
    top = (360, 25, 495, 60)
    assert region_diff(texted.path, bare.path, 5, lower) > 20
    assert region_diff(texted.path, bare.path, 5, top) < 2
    assert region_diff(texted.path, bare.path, 1, lower) < 2  # not yet
    assert region_diff(texted.path, bare.path, 8, lower) < 2  # gone again
    top_text = render([replace(item(fx["blue"]), texts=(
        TextOverlay("Jane Doe", placement="top", size="large", color="#ffd700"),))],
        storage=storage)
    assert region_diff(top_text.path, bare.path, 5, top) > 20
    assert region_diff(top_text.path, bare.path, 5, lower) < 2


@pytest.mark.slow
def test_hostile_text_renders_as_data(fx: dict[str, Path], storage: Path) -> None:
    overlays = (TextOverlay(HOSTILE_TEXT, size="large"),
                TextOverlay("100% %{pts} \\ ' : [x]", placement="top", box=False))
    items = [replace(item(fx["wide"], size=(854, 480)), texts=overlays),
             title_item(TitleCard(HOSTILE_TEXT, background="#1d3557"), 0.5)]
    result = render(items, storage=storage)
    assert probe(result.path)["video"]["frames"] == 15
    for argv in result.commands:  # the text itself never appears in an ffmpeg argv
        assert not any("Quotes" in arg or "%{pts}" in arg for arg in argv)
    # the box behind the long text covers most of the frame, yet stays inside it
    w, h, px = pixels(result.path, 5)
    for x, y in ((2, 2), (w - 3, 2), (2, h - 3), (w - 3, h - 3)):
        r, g, b = px(x, y)
        assert b > 200 and r < 40 and g < 40, (x, y)  # the clip's own blue
    assert px(w // 2, h // 2)[2] < 200  # darkened by the box, or a letter


@pytest.mark.slow
def test_text_renders_without_any_system_font(
        fx: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # fontconfig that knows no font at all, as on a bare container: the shipped font is
    # passed by path, so text still renders
    config = tmp_path / "fonts.conf"
    config.write_text("<?xml version='1.0'?><fontconfig><dir>/nonexistent</dir>"
                      f"<cachedir>{tmp_path}/cache</cachedir></fontconfig>")
    monkeypatch.setenv("FONTCONFIG_FILE", str(config))
    monkeypatch.setenv("FONTCONFIG_PATH", str(tmp_path))
    bare = render([item(fx["wide"], size=(854, 480))], storage=tmp_path / "a")
    texted = render([replace(item(fx["wide"], size=(854, 480)),
                             texts=(TextOverlay("Jane Doe", size="large"),))],
                    storage=tmp_path / "b")
    assert region_diff(texted.path, bare.path, 5, (330, 360, 525, 440)) > 20
    drawn = [" ".join(argv) for argv in texted.commands if "ass=" in " ".join(argv)]
    assert drawn and all("fontsdir=" in argv for argv in drawn)


@pytest.mark.slow
def test_render_under_hostile_directory_names(fx: dict[str, Path], tmp_path: Path) -> None:
    # the text files live in the storage directory, the font in another odd place
    storage = tmp_path / "st:o're\\ [x],y;z=1 %{pts} "
    fonts = tmp_path / "fo'nts:\n[1]"
    fonts.mkdir()
    font = fonts / "my font, v2.ttf"
    shutil.copy(DEFAULT_FONT, font)
    sha = hashlib.sha256(font.read_bytes()).hexdigest()
    overlay = TextOverlay("Hello", font=font, font_sha256=sha, size="large")
    items = [replace(item(fx["wide"], size=(854, 480)), texts=(overlay,),
                     transition=fade(0.3)),
             title_item(TitleCard("Bye", font=font, font_sha256=sha), 0.5)]
    bare = render([item(fx["wide"], size=(854, 480))], storage=tmp_path / "plain")
    result = render(items, storage=storage)
    assert result.path.parent == storage / "renders"
    assert probe(result.path)["video"]["frames"] == 12
    assert region_diff(result.path, bare.path, 3, (330, 360, 525, 440)) > 20


def test_unusable_font_is_invalid_input_before_any_render(
        fx: dict[str, Path], tmp_path: Path) -> None:
    junk = tmp_path / "junk.ttf"
    junk.write_bytes(b"OTTO" + b"\xff" * 64)
    storage = tmp_path / "storage"
    for font in (junk, tmp_path / "missing.ttf", fx["image"]):
        overlay = TextOverlay("x", font=font, font_sha256="0" * 64)
        with pytest.raises(InvalidInput, match="font"):
            render([replace(item(fx["blue"]), texts=(overlay,))], storage=storage)
        with pytest.raises(InvalidInput, match="font"):
            render([title_item(TitleCard("x", font=font, font_sha256="0" * 64), 1.0)],
                   storage=storage)
    assert not storage.exists()


@pytest.mark.slow
def test_title_card_renders(storage: Path) -> None:
    card = TitleCard("Chapter One", background="navy", color="white", size="large")
    result = render([title_item(card, 1.0, fade_in=0.3)], storage=storage)
    info = probe(result.path)
    assert info["video"]["frames"] == 10
    assert info["audio"]["duration"] == pytest.approx(1.0, abs=0.001)
    _w, _h, px = pixels(result.path, 5)
    r, g, b = px(10, 10)
    assert r < 30 and g < 30 and 100 < b < 150  # navy background
    text = [px(x, 240) for x in range(200, 650, 3)]
    assert sum(1 for c in text if min(c) > 200) > 10  # white letters across the middle
    assert max(pixels(result.path, 0)[2](10, 10)) < 20  # fading in from black


# --------------------------------------------------------------------------- motion


def frame_means(path: Path, box: tuple[int, int, int, int]) -> list[float]:
    """Mean luma of a region of every frame (decoded once)."""
    import av

    x0, y0, x1, y1 = box
    means = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            plane = frame.reformat(format="gray").planes[0]
            data, stride = bytes(plane), plane.line_size
            total = sum(sum(data[y * stride + x0: y * stride + x1]) for y in range(y0, y1))
            means.append(total / ((x1 - x0) * (y1 - y0)))
    return means


def _segment_file(storage: Path, key: str) -> Path:
    return storage / "cache" / "segments" / f"{key}.mp4"


@pytest.mark.slow
@pytest.mark.parametrize(("motion", "still", "box", "sign"), [
    # a pan slides the grey ramp under a box in the middle: its mean changes steadily
    ("pan-right", "ramp", (300, 120, 560, 360), 1),
    ("pan-left", "ramp", (300, 120, 560, 360), -1),
    # a zoom (on the covered frame: no bars) moves the edge of a white square in the
    # middle of the picture across a box at its left
    ("zoom-in", "centre", (150, 120, 260, 360), 1),
    ("zoom-out", "centre", (150, 120, 260, 360), -1),
])
def test_motion_is_smooth(fx: dict[str, Path], storage: Path, motion: str, still: str,
                          box: tuple[int, int, int, int], sign: int) -> None:
    # gif renders keep lossless segments: read the picture without encoder noise
    settings = RenderSettings(preset="480p", fmt="gif", fps=30, quality="draft")
    result = render([replace(item(fx[still], "image", 3.0), motion=motion)], settings, storage)
    assert result.frames == 90
    means = frame_means(_segment_file(storage, result.segments_encoded[0]), box)
    assert len(means) == 90
    steps = [sign * (b - a) for a, b in itertools.pairwise(means)]
    # monotonic, and without the hold-then-jump of whole-pixel crops (steps of 0 and 2)
    assert all(s > 0 for s in steps), steps
    assert max(steps) < 2.0 * min(steps), steps


# --------------------------------------------------------------------------- sound


@pytest.mark.slow
def test_volume_mute_and_fades(fx: dict[str, Path], storage: Path) -> None:
    clip = item(fx["clip"], duration=2.0)
    loud = render([replace(clip, volume=2.0)], storage=storage)
    plain = render([clip], storage=storage)
    muted = render([replace(clip, mute=True)], storage=storage)
    faded = render([replace(clip, fade_in=0.5, fade_out=0.5)], storage=storage)
    p, lo, m = samples(plain.path), samples(loud.path), samples(muted.path)
    assert rms(lo, 0.5, 1.5) == pytest.approx(2 * rms(p, 0.5, 1.5), rel=0.05)
    assert rms(m, 0.0, 2.0) < 1e-4
    f = samples(faded.path)
    assert rms(f, 0.0, 0.1) < 0.3 * rms(p, 0.0, 0.1)
    assert rms(f, 0.8, 1.2) == pytest.approx(rms(p, 0.8, 1.2), rel=0.05)
    assert rms(f, 1.9, 2.0) < 0.3 * rms(p, 1.9, 2.0)
    # fades reach the picture too: from black, to black
    assert max(pixels(faded.path, 0)[2](427, 240)) < 20
    assert max(pixels(faded.path, 2)[2](427, 240)) > 20  # on the way up
    assert max(pixels(faded.path, 19)[2](427, 240)) < 20
    assert max(pixels(faded.path, 10)[2](427, 240)) > 40


@pytest.mark.slow
def test_ducked_bed_is_quieter_under_clip_sound(fx: dict[str, Path], storage: Path) -> None:
    # 0-2 s: a clip with a 440 Hz tone; 2-4 s: a silent clip. The bed is 660 Hz, 3 s
    # long, so it ends by itself (no fade-out at the end of the timeline to measure around).
    pictures = [item(fx["clip"], duration=2.0), item(fx["silent"], duration=2.0)]
    bed = item(fx["music"], "audio", 3.0)
    ducked = samples(render([*pictures, replace(bed, duck=True)], storage=storage).path)
    plain = samples(render([*pictures, bed], storage=storage).path)
    under_ducked = tone_level(ducked, 0.8, 1.8, 660)
    free_ducked = tone_level(ducked, 2.5, 2.9, 660)
    assert under_ducked < 0.5 * free_ducked  # at least 6 dB down under the clip sound
    assert tone_level(plain, 0.8, 1.8, 660) == pytest.approx(
        tone_level(plain, 2.5, 2.9, 660), rel=0.1)
    assert free_ducked == pytest.approx(tone_level(plain, 2.5, 2.9, 660), rel=0.1)
    # clip sound itself is untouched by ducking
    assert tone_level(ducked, 0.8, 1.8, 440) == pytest.approx(
        tone_level(plain, 0.8, 1.8, 440), rel=0.05)


@pytest.mark.slow
def test_bed_fades_out_at_the_end_instead_of_being_cut(
        fx: dict[str, Path], storage: Path) -> None:
    pictures = [item(fx["silent"], duration=2.0), item(fx["silent"], duration=1.0)]
    result = render([*pictures, item(fx["music"], "audio", 4.0)], storage=storage)
    values = samples(result.path)
    steady = rms(values, 0.2, 0.8)
    assert steady > 0.01
    assert rms(values, 1.5, 1.7) == pytest.approx(0.75 * steady, rel=0.15)  # fading
    assert rms(values, 2.9, 2.98) < 0.1 * steady
    # a bed that ends by itself keeps its own end (and its own fades)
    short = render([*pictures, replace(item(fx["music2"], "audio", 1.5), fade_in=0.5)],
                   storage=storage)
    values = samples(short.path)
    assert rms(values, 0.0, 0.1) < 0.3 * rms(values, 0.8, 1.2)
    assert rms(values, 1.2, 1.4) > 0.01 and rms(values, 1.7, 2.9) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("target", [-14.0, -23.0])
def test_loudness_target_is_met_and_recorded(
        fx: dict[str, Path], storage: Path, target: float) -> None:
    logs: list[str] = []
    items = [item(fx["clip"], duration=2.0), item(fx["silent"], duration=1.0),
             item(fx["music"], "audio", 3.0)]
    result = render(items, replace(FAST, loudness=target), storage, log=logs.append)
    assert result.loudness is not None
    assert result.loudness["input_i"] < -15  # the tones are quiet to begin with
    assert abs(integrated_loudness(result.path) - target) <= 1.0
    assert abs(result.loudness["output_i"] - target) <= 1.0
    assert any(line.startswith("loudness: measured") for line in logs)
    info = probe(result.path)
    assert info["audio"]["duration"] == pytest.approx(3.0, abs=0.001)
    hit = render(items, replace(FAST, loudness=target), storage)
    assert hit.cache_hit and hit.loudness == result.loudness
    plain = render(items, storage=storage)
    assert plain.render_key != result.render_key and plain.loudness is None


# --------------------------------------------------------------------------- everything


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_fifteen_items_mixing_every_feature_stay_exact(
        fx: dict[str, Path], storage: Path, fmt: str) -> None:
    f = fx
    caption = (TextOverlay("Jane Doe — Director", start=0.1, duration=0.3),)
    items = [
        title_item(TitleCard("Opening", background="navy"), 0.5, fade_in=0.2,
                   transition=fade(0.2)),
        replace(item(f["red"], duration=0.7), texts=caption, transition=fade(0.2, "wipeleft")),
        replace(item(f["clip"], duration=0.63, trim=0.4), volume=0.5, fade_in=0.1),
        replace(item(f["ramp"], "image", 0.8), motion="zoom-in",
                transition=fade(0.3, "dissolve")),
        replace(item(f["blue"], duration=0.5), mute=True, transition=fade(0.1, "slideleft")),
        item(f["music"], "audio", 2.5),
        replace(item(f["image"], "image", 0.45), motion="pan-left", fade_out=0.2),
        replace(item(f["green"], duration=0.6), transition=fade(0.25, "circleopen"),
                texts=(TextOverlay(HOSTILE_TEXT[:300], placement="center"),)),
        replace(item(f["clip"], duration=0.5, trim=1.2), transition=fade(0.2, "slideright")),
        title_item(TitleCard("Part two", size="small"), 0.4, transition=fade(0.1, "fadeblack")),
        replace(item(f["silent"], duration=0.55), fade_in=0.15, fade_out=0.15),
        replace(item(f["music2"], "audio", 1.5), duck=True, volume=parse_volume("-3dB"),
                fade_in=0.3),
        replace(item(f["red"], duration=0.33), transition=fade(0.3, "wiperight")),
        replace(item(f["image"], "image", 0.4), motion="zoom-out"),
        title_item(TitleCard("The End"), 0.6, fade_out=0.3),
    ]
    assert len(items) == 15
    fps = 10
    settings = replace(FAST, fmt=fmt, fps=fps, loudness=-16.0)
    plan = plan_timeline(items, fps)
    pictures = [i for i in items if i.kind != "audio"]
    overlap = sum(frames_for(i.transition.seconds, fps) for i in pictures[:-1]
                  if i.transition.kind != "none")
    expected = sum(frames_for(i.duration, fps) for i in pictures) - overlap
    assert plan.total_frames == expected and overlap > 0
    result = render(items, settings, storage)
    info = probe(result.path)
    assert info["video"]["frames"] == expected == result.frames
    end = expected / fps
    measured_video = info["video"]["duration"] or info["video"]["last_time"] + 1 / fps
    measured_audio = info["audio"]["duration"] or info["audio"]["end"]
    assert measured_video == pytest.approx(end, abs=0.002)
    assert abs(measured_audio - end) < 1 / fps
    assert info["audio"]["gaps"] == 0
    again = render(items, settings, storage)
    assert again.cache_hit
    assert json.dumps(result.loudness)  # recorded, serialisable for the job log
