"""Text in every script, and text styles, checked on rendered pixels.

Frames are drawn by the engine (``render_frame``, the same graph code as a render) and
compared with reference renderings by the same libass: Arabic against its joined and
isolated presentation forms, Hebrew against its first letter alone, an emoji against
the empty box of a character no font has. System fonts come from Debian packages that
.ci/run installs (fonts-dejavu-core, fonts-lohit-deva, fonts-wqy-microhei, fonts-symbola);
a test that needs one skips, naming it, only where it is absent.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from rendercli.errors import InvalidInput
from rendercli.media.ffmpeg_binary import ffmpeg_path
from rendercli.render.coverage import system_font_files
from rendercli.render.engine import render_frame, render_timeline
from rendercli.render.subtitles import ass_document, ass_escape, item_blocks
from rendercli.render.timeline import TextOverlay, TitleCard, plan_timeline, title_item
from tests.media_factory import make_color_video
from tests.test_render_engine import FAST, item

SIZE = (854, 480)  # FAST's 480p frame
WQY = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


def need_font(fragment: str, package: str) -> None:
    if not any(fragment in path for path in system_font_files(None)):
        pytest.skip(f"no system font matching {fragment!r} (Debian package {package})")


class Frame:
    """A decoded RGB frame with helpers for ink (light pixels) and dark pixels."""

    def __init__(self, path: Path) -> None:
        import av

        with av.open(str(path)) as container:
            frame = next(container.decode(video=0)).reformat(format="rgb24")
        plane = frame.planes[0]
        self.w, self.h = frame.width, frame.height
        self.data, self.stride = bytes(plane), plane.line_size

    def px(self, x: int, y: int) -> tuple[int, int, int]:
        at = y * self.stride + 3 * x
        return self.data[at], self.data[at + 1], self.data[at + 2]

    def where(self, test) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
        return [(x, y) for y in range(self.h) for x in range(self.w) if test(self.px(x, y))]

    def ink(self) -> set[tuple[int, int]]:
        return set(self.where(lambda p: min(p) > 160))


def bbox(points: set[tuple[int, int]]) -> tuple[int, int, int, int]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs) + 1, max(ys) + 1


def mismatch(a: set[tuple[int, int]], b: set[tuple[int, int]]) -> float:
    """Share of the ink of either that the other lacks (0: identical)."""
    return len(a ^ b) / max(1, len(a | b))


def title(text: str, tmp: Path, *, seconds: float = 0.5, name: str = "f", **card) -> Frame:  # type: ignore[no-untyped-def]
    out = tmp / f"{name}.png"
    items = [title_item(TitleCard(text, background=card.pop("background", "black"),
                                  **card), 1.0)]
    render_frame(items, FAST, seconds, out, storage_dir=tmp / "storage")
    return Frame(out)


def libass_reference(text: str, tmp: Path, name: str) -> Frame:
    """The frame libass draws for a title of ``text`` without the engine's checks (to
    draw what no font has: the empty box the engine refuses to render)."""
    planned = plan_timeline([title_item(TitleCard(text), 1.0)], FAST.fps).visual[0]
    doc = tmp / f"{name}.ass"
    doc.write_text(ass_document(item_blocks(planned, FAST.fps, SIZE), SIZE), encoding="utf-8")
    fonts = tmp / f"{name}-fonts"
    fonts.mkdir()
    from rendercli.render.text import DEFAULT_FONT

    (fonts / "font0.ttf").write_bytes(DEFAULT_FONT.read_bytes())
    out = tmp / f"{name}.png"
    subprocess.run([ffmpeg_path(), "-v", "error", "-f", "lavfi", "-i",
                    f"color=c=black:s={SIZE[0]}x{SIZE[1]}:r=1", "-vf",
                    f"ass=filename={doc.name}:fontsdir={fonts.name}", "-frames:v", "1", "-y",
                    str(out)], cwd=tmp, check=True, capture_output=True)
    return Frame(out)


# --------------------------------------------------------------------------- escaping


def test_ass_escape_keeps_user_text_literal() -> None:
    assert ass_escape("a{\\b1}b") == "a\\{\\\u2060b1\\}b"
    assert ass_escape("\\N\\n\\h") == "\\\u2060N\\\u2060n\\\u2060h"
    assert ass_escape("plain مرحبا") == "plain مرحبا"


@pytest.mark.slow
def test_override_tags_in_text_are_drawn_not_obeyed(tmp_path: Path) -> None:
    hostile = title("{\\c&H0000FF&\\fs200}R\\NX", tmp_path, name="hostile", size="small")
    red = hostile.where(lambda p: p[0] > 150 and p[1] < 90 and p[2] < 90)
    assert not red  # the colour tag was not applied
    plain = title("R", tmp_path, name="plain", size="small")
    x0, y0, x1, y1 = bbox(hostile.ink())
    px0, py0, px1, py1 = bbox(plain.ink())
    assert x1 - x0 > 5 * (px1 - px0)  # the braces and tags are drawn as text, on one line
    assert y1 - y0 < 2 * (py1 - py0)  # \N did not break the line, \fs did not grow it


def test_a_face_becomes_a_renamed_font_of_its_own() -> None:
    from rendercli.render.text import DEFAULT_FONT, collection_faces, parse_font, standalone_face

    data = DEFAULT_FONT.read_bytes()
    copy = parse_font(standalone_face(data, 0, "rendercli builtin 0"))
    original = parse_font(data)
    assert copy.family == "rendercli builtin 0" and original.family == "Noto Sans"
    assert copy.advances == original.advances and copy.weight == original.weight == 700
    # a collection of two faces: header, offsets, each face read on its own
    head = b"ttcf\x00\x01\x00\x00" + (2).to_bytes(4, "big")
    offsets = (20).to_bytes(4, "big") * 2  # both faces are the font after the header
    sfnt = bytearray(data)
    count = int.from_bytes(sfnt[4:6], "big")
    for n in range(count):  # table offsets of a collection count from the file's start
        at = 12 + 16 * n + 8
        sfnt[at:at + 4] = (int.from_bytes(sfnt[at:at + 4], "big") + 20).to_bytes(4, "big")
    collection = head + offsets + bytes(sfnt)
    assert collection_faces(collection) == 2
    assert parse_font(collection, 1).advances == original.advances
    assert parse_font(standalone_face(collection, 1, "x y")).family == "x y"
    with pytest.raises(ValueError, match="faces 0 to 1, not 2"):
        parse_font(collection, 2)
    with pytest.raises(ValueError, match="at most 64"):
        parse_font(head[:8] + (65).to_bytes(4, "big") + offsets + bytes(sfnt))


# --------------------------------------------------------------------------- scripts


@pytest.mark.slow
def test_arabic_is_joined_like_its_presentation_forms(tmp_path: Path) -> None:
    need_font("DejaVuSans", "fonts-dejavu-core")
    word = title("مرحبا", tmp_path, name="word").ink()
    joined = title("\ufee3\ufeae\ufea3\ufe92\ufe8e", tmp_path, name="joined").ink()
    isolated = title("\ufee1\ufead\ufea1\ufe8f\ufe8d", tmp_path, name="isolated").ink()
    assert word and joined and isolated
    assert mismatch(word, joined) < 0.1
    assert mismatch(word, isolated) > 0.4
    assert mismatch(word, joined) * 4 < mismatch(word, isolated)


@pytest.mark.slow
def test_hebrew_runs_right_to_left(tmp_path: Path) -> None:
    need_font("DejaVuSans", "fonts-dejavu-core")
    word = title("שלום", tmp_path, name="word").ink()
    shin = title("ש", tmp_path, name="shin").ink()
    x0, y0, x1, y1 = bbox(shin)
    width = x1 - x0
    wx0, _wy0, wx1, _wy1 = bbox(word)

    def slice_at(left: int) -> set[tuple[int, int]]:  # word ink moved onto the lone letter
        return {(x - left + x0, y) for x, y in word if left <= x < left + width and y0 <= y < y1}

    right, left = slice_at(wx1 - width), slice_at(wx0)
    assert mismatch(right, shin) < 0.15  # the first letter is drawn at the right end
    assert mismatch(left, shin) > 0.4


@pytest.mark.slow
def test_devanagari_forms_conjuncts(tmp_path: Path) -> None:
    need_font("Lohit-Devanagari", "fonts-lohit-deva")
    conjunct = title("क्ष", tmp_path, name="conjunct").ink()
    spelled = title("क्\u200cष", tmp_path, name="spelled").ink()  # ZWNJ: no conjunct
    assert conjunct and spelled and mismatch(conjunct, spelled) > 0.3
    assert bbox(conjunct)[2] - bbox(conjunct)[0] < bbox(spelled)[2] - bbox(spelled)[0]


@pytest.mark.slow
def test_cjk_through_a_collection_face(tmp_path: Path) -> None:
    if not WQY.is_file():
        pytest.skip(f"{WQY} absent (Debian package fonts-wqy-microhei)")
    cjk = title("中文", tmp_path, name="cjk", font=WQY, font_sha256="a" * 64, font_face=1)
    assert len(cjk.ink()) > 500
    mono = title("Hello", tmp_path, name="mono", font=WQY, font_sha256="a" * 64, font_face=1)
    proportional = title("Hello", tmp_path, name="prop", font=WQY, font_sha256="a" * 64,
                         font_face=0)
    plain = title("Hello", tmp_path, name="plain")
    # the face asked for is the one drawn: monospaced Latin in face 1, not in face 0 (the
    # two share a name in the file, so libass gets a renamed copy of the face)
    assert mismatch(mono.ink(), proportional.ink()) > 0.3
    assert mismatch(mono.ink(), plain.ink()) > 0.3
    with pytest.raises(InvalidInput, match="faces 0 to 1"):
        title("中文", tmp_path, name="face9", font=WQY, font_sha256="a" * 64, font_face=9)


@pytest.mark.slow
def test_emoji_is_a_glyph_not_an_empty_box(tmp_path: Path) -> None:
    need_font("Symbola", "fonts-symbola")
    emoji = title("😀", tmp_path, name="emoji").ink()
    box = libass_reference("\U0010fffd", tmp_path, "box").ink()  # what no font has
    assert len(emoji) > 200 and box
    assert mismatch(emoji, box) > 0.5


def test_uncovered_character_is_refused_before_rendering(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    text = "Hi \U0010fffd and \U0010fffc"
    with pytest.raises(InvalidInput) as caught:
        render_timeline([title_item(TitleCard(text), 1.0)], FAST, storage_dir=storage)
    message = caught.value.message
    assert "U+10FFFC" in message and "U+10FFFD" in message and "\n" not in message
    assert "NotoSans-Bold.ttf" in message and "system font" in message
    assert "timeline item 1, title" in message
    assert not storage.exists()


# --------------------------------------------------------------------------- styles


@pytest.mark.slow
def test_text_fades_in_and_out_over_whole_frames(tmp_path: Path) -> None:
    clip = make_color_video(tmp_path / "grey.mp4", colors=("gray",), seconds_each=2.0,
                            size=SIZE)
    overlay = TextOverlay("Fading words", start=0.2, duration=1.6, size="large",
                          style="none", fade_in=0.5, fade_out=0.5)
    items = [replace(item(clip, size=SIZE, duration=2.0), texts=(overlay,))]
    inks = []
    for frame in (2, 4, 7, 12, 15, 17):
        out = tmp_path / f"f{frame}.png"
        render_frame(items, FAST, frame / FAST.fps, out, storage_dir=tmp_path / "st")
        inks.append(len(Frame(out).where(lambda p: min(p) > 150)))  # the grey is 128
    first, half, full, still, half_out, last = inks
    assert first == 0 and last == 0  # fully transparent on its first and last frame
    assert full > 1000 and still == full
    assert 0 < half < full and 0 < half_out < full


def _style_frame(style: str, tmp: Path) -> tuple[set, set]:  # type: ignore[type-arg]
    frame = title("Styled", tmp, name=style, background="#808080", style=style)
    ink = set(frame.where(lambda p: min(p) > 220))
    dark = set(frame.where(lambda p: max(p) < 90))
    return ink, dark


@pytest.mark.slow
def test_box_outline_and_shadow_differ_as_designed(tmp_path: Path) -> None:
    results = {s: _style_frame(s, tmp_path) for s in ("none", "box", "outline", "shadow")}
    ink, dark = results["none"]
    assert ink and len(dark) < 10

    ink, dark = results["box"]  # a dark rectangle around the whole word
    x0, y0, x1, y1 = bbox(dark | ink)
    assert len(dark | ink) > 0.9 * (x1 - x0) * (y1 - y0)
    ix0, iy0, ix1, iy1 = bbox(ink)
    assert x0 < ix0 and x1 > ix1 and y0 < iy0 and y1 > iy1

    def centre(points: set) -> tuple[float, float]:  # type: ignore[type-arg]
        return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))

    for style in ("outline", "shadow"):
        ink, dark = results[style]
        x0, y0, x1, y1 = bbox(dark | ink)
        assert len(dark) > 300 and len(dark | ink) < 0.7 * (x1 - x0) * (y1 - y0), style
    (ox, oy), (ix, iy) = centre(results["outline"][1]), centre(results["outline"][0])
    (sx, sy), (jx, jy) = centre(results["shadow"][1]), centre(results["shadow"][0])
    # an outline surrounds the letters; a shadow falls down and to the right of them
    assert (sx - jx) - (ox - ix) > 1.5 and (sy - jy) - (oy - iy) > 1.5
    assert abs(oy - iy) < 2


@pytest.mark.slow
def test_texts_at_the_same_place_and_time_are_stacked(tmp_path: Path) -> None:
    clip = make_color_video(tmp_path / "black.mp4", colors=("black",), seconds_each=1.0,
                            size=SIZE)
    one = TextOverlay("First name", style="none")
    two = TextOverlay("Second name", style="none", start=0.2)
    items = [replace(item(clip, size=SIZE), texts=(one, two))]
    out = tmp_path / "stacked.png"
    render_frame(items, FAST, 0.5, out, storage_dir=tmp_path / "st")
    rows = sorted({y for _x, y in Frame(out).ink()})
    bands = [[rows[0]]]
    for y in rows[1:]:
        if y - bands[-1][-1] > 3:
            bands.append([])
        bands[-1].append(y)
    assert len(bands) == 2  # two lines of ink, apart
    alone = tmp_path / "alone.png"
    render_frame([replace(item(clip, size=SIZE), texts=(one,))], FAST, 0.5, alone,
                 storage_dir=tmp_path / "st")
    assert abs(min(y for _x, y in Frame(alone).ink()) - bands[1][0]) <= 1  # first stays
    crowd = tuple(TextOverlay(f"Line {n}", size="large") for n in range(12))
    with pytest.raises(InvalidInput, match="do not fit in the frame without overlapping"):
        render_timeline([replace(item(clip, size=SIZE), texts=crowd)], FAST,
                        storage_dir=tmp_path / "st2")
    assert not (tmp_path / "st2").exists()


@pytest.mark.slow
def test_a_long_lower_third_on_a_title_card_stays_below_the_title(tmp_path: Path) -> None:
    card = TitleCard("Chapter One: the long road home", size="large")
    long_text = " ".join(["a lower third that goes on and on"] * 8)
    items = [replace(title_item(card, 1.0), texts=(
        TextOverlay(long_text, color="#ffd700", style="none"),))]
    out = tmp_path / "card.png"
    render_frame(items, FAST, 0.5, out, storage_dir=tmp_path / "st")
    frame = Frame(out)
    white = frame.where(lambda p: min(p) > 200)
    gold = frame.where(lambda p: p[0] > 180 and p[1] > 140 and p[2] < 90)
    assert white and gold
    assert min(y for _x, y in gold) > max(y for _x, y in white)  # no text over the title
    crowd = tuple(TextOverlay(long_text, style="none") for _ in range(3))
    with pytest.raises(InvalidInput, match="the title"):
        render_timeline([replace(title_item(card, 1.0), texts=crowd)], FAST,
                        storage_dir=tmp_path / "st2")
