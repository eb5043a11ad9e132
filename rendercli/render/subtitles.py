"""Titles and texts drawn by libass (ffmpeg's ``ass`` filter): shaping, bidi, fallback.

One ``.ass`` file per picture item holds its title and its texts; the filter reads it
from a file (the text never enters the filter graph) and reads the fonts from a private
folder (``fontsdir=``) holding only the fonts the item names. libass shapes with
HarfBuzz (Arabic joined, Devanagari conjuncts), orders right-to-left runs with FriBidi
and falls back through fontconfig for characters the chosen font lacks (``coverage``
refuses, before rendering, characters no font has).

Timing is exact to the frame: the ``ass`` filter runs on a stream whose frame ``n`` is at
``n`` seconds, so an event spans whole frames (it starts and ends half a frame away from
its first and last) and fades are whole frames too. Every event has its own layer and an
explicit ``\\pos``, so libass never moves one to dodge another: stacking is decided here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rendercli.errors import InvalidInput
from rendercli.render.coverage import check_coverage
from rendercli.render.graph import filter_spec
from rendercli.render.sfnt import FontMetrics, standalone_face
from rendercli.render.text import (
    DEFAULT_FONT,
    OVERLAY_SIZES,
    TITLE_SIZES,
    TextLayout,
    clean_text,
    font_metrics,
    layout_text,
)
from rendercli.render.timeline import (
    PlannedItem,
    RenderSettings,
    TextOverlay,
    TimelineItem,
    TitleCard,
    parse_color,
    plan_timeline,
    validate_settings,
)

BOX_ALPHA = 0x73  # black at 55 % opacity behind the text
SHADOW_ALPHA = 0x40
STACK_GAP = 0.01  # of the frame height, between stacked texts
WORD_JOINER = "\u2060"


def ass_escape(line: str) -> str:
    """One line of user text as literal ASS event text: braces escaped (no override
    block can start) and every backslash followed by a word joiner (no ``\\N``, ``\\h``
    or other escape can form). The word joiner is invisible and draws nothing."""
    out = []
    for ch in line:
        if ch == "\\":
            out.append("\\" + WORD_JOINER)
        elif ch in "{}":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def ass_colour(color: str, alpha: int = 0) -> str:
    """``&HAABBGGRR`` (alpha 0: opaque) from a colour name or #RRGGBB."""
    rgb = parse_color(color)[2:]
    return f"&H{alpha:02X}{rgb[4:6]}{rgb[2:4]}{rgb[0:2]}".upper()


def _time(seconds: float) -> str:
    centis = round(seconds * 100)
    hours, rest = divmod(centis, 360000)
    minutes, rest = divmod(rest, 6000)
    return f"{hours}:{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}"


@dataclass
class Block:
    """One title or text as it is drawn: its lines, font, style, frames and place."""

    name: str
    layout: TextLayout
    metrics: FontMetrics
    font: Path
    font_key: str
    color: str
    style: str
    face: int
    placement: str  # lower-third | center | top | title
    first: int  # item-local frames [first, end)
    end: int
    fade_in: int  # frames
    fade_out: int
    pad: int = 0
    top: float = 0.0  # y of the block's top edge, padding included

    @property
    def ass_size(self) -> float:
        return self.layout.size * self.metrics.ass_height / self.metrics.units_per_em

    @property
    def height(self) -> float:
        return len(self.layout.lines) * self.ass_size + 2 * self.pad


def _pad(style: str, layout: TextLayout) -> int:
    if style == "box":
        return layout.box_border
    if style == "outline":
        return max(1, round(layout.size * 0.08))
    if style == "shadow":
        return max(1, round(layout.size * 0.07))
    return 0


def _block(name: str, text: str, font: Path | None, face: int, key: str, size: float,
           frame: tuple[int, int], max_height: float | None = None, **kw: object) -> Block:
    metrics = font_metrics(font or DEFAULT_FONT, face)
    style = str(kw["style"])
    layout = layout_text(text, metrics, frame, size, box=style != "none",
                         max_height=max_height)
    block = Block(name, layout, metrics, font or DEFAULT_FONT, key, face=face, **kw)  # type: ignore[arg-type]
    block.pad = _pad(style, layout)
    return block


def _frames(seconds: float, fps: int) -> int:
    return int(seconds * fps + 0.5)


def overlay_range(overlay: TextOverlay, frames: int, fps: int) -> tuple[int, int]:
    """The item-local frames [start, end) an overlay is shown on."""
    start = _frames(overlay.start, fps)
    end = frames if overlay.duration is None else _frames(overlay.start + overlay.duration, fps)
    return min(start, frames), min(max(end, start + 1), frames)


def item_blocks(planned: PlannedItem, fps: int, frame: tuple[int, int]) -> list[Block]:
    """The item's title and texts as blocks, stacked so that texts shown at the same
    time at the same placement never overlap. Raises InvalidInput when they cannot."""
    item, w_h = planned.item, frame
    blocks = []
    card: TitleCard | None = item.title
    if card is not None:
        blocks.append(_block(
            "title", card.text, card.font, card.font_face, card.font_sha256 or "builtin",
            TITLE_SIZES[card.size], w_h, color=card.color, style=card.effective_style,
            placement="title", first=0, end=planned.frames,
            fade_in=_frames(card.fade_in, fps), fade_out=_frames(card.fade_out, fps)))
    # On a title card, a lower third (or a top text) keeps to the room below (above) the
    # card's own text instead of growing over it.
    h, gap = frame[1], frame[1] * STACK_GAP
    rooms: dict[str, float | None] = {}
    if blocks:
        card_top = (h - blocks[0].height) / 2
        rooms = {"lower-third": h * 0.90 - (card_top + blocks[0].height) - gap,
                 "top": card_top - h * 0.06 - gap}
    overlay: TextOverlay
    for k, overlay in enumerate(item.texts, 1):
        first, end = overlay_range(overlay, planned.frames, fps)
        blocks.append(_block(
            f"text {k}", overlay.text, overlay.font, overlay.font_face,
            overlay.font_sha256 or "builtin", OVERLAY_SIZES[overlay.size], w_h,
            max_height=rooms.get(overlay.placement),
            color=overlay.color, style=overlay.effective_style,
            placement=overlay.placement, first=first, end=end,
            fade_in=_frames(overlay.fade_in, fps), fade_out=_frames(overlay.fade_out, fps)))
    _stack(blocks, frame)
    return blocks


def _stack(blocks: list[Block], frame: tuple[int, int]) -> None:
    h = frame[1]
    gap = h * STACK_GAP
    placed: list[Block] = []
    for block in blocks:
        if block.placement == "lower-third":  # bottom of the text at 90 % of the height
            block.top = h * 0.90 + block.pad - block.height
            block.top = max(block.top, h * 0.05 - block.pad)  # a tall block: from 5 %
        elif block.placement == "top":
            block.top = h * 0.06 - block.pad
        else:  # center and the title
            block.top = (h - block.height) / 2
        upward = block.placement == "lower-third"
        moved = True
        while moved:
            moved = False
            for other in placed:
                if (other.placement != block.placement or other.end <= block.first
                        or block.end <= other.first):
                    continue
                if block.top < other.top + other.height + gap and \
                        other.top < block.top + block.height + gap:
                    block.top = (other.top - gap - block.height if upward
                                 else other.top + other.height + gap)
                    moved = True
        covers_title = any(
            o.placement == "title" and block.placement in ("lower-third", "top")
            and block.top < o.top + o.height and o.top < block.top + block.height
            for o in placed)
        if block.top < -0.5 or block.top + block.height > h + 0.5 or covers_title:
            others = [o.name for o in placed if o.placement == block.placement
                      and o.end > block.first and block.end > o.first]
            if covers_title:
                others.append("the title")
            if not others:
                raise InvalidInput(f"{block.name} does not fit in the frame "
                                   f"({block.placement}); shorten it or make it smaller")
            raise InvalidInput(
                f"{block.name} and {', '.join(others)} are shown at the same time and do "
                f"not fit in the frame without overlapping ({block.placement}); shorten a "
                "text, or give it another time or placement")
        placed.append(block)


def _style_line(n: int, block: Block) -> str:
    m, pad = block.metrics, block.pad
    outline, shadow, border_style = 0, 0, 1
    outline_colour = back_colour = ass_colour("black", 0xFF)
    if block.style == "box":
        border_style, outline, back_colour = 4, pad, ass_colour("black", BOX_ALPHA)
    elif block.style == "outline":
        outline, outline_colour = pad, ass_colour("black")
    elif block.style == "shadow":
        shadow, back_colour = pad, ass_colour("black", SHADOW_ALPHA)
    primary = ass_colour(block.color)
    return (f"Style: s{n},{family_name(block.font_key, block.face)},{block.ass_size:.2f},"
            f"{primary},{primary},"
            f"{outline_colour},{back_colour},{m.weight},{-1 if m.italic else 0},0,0,100,100,"
            f"0,0,{border_style},{outline},{shadow},5,0,0,0,1")


def _event(n: int, block: Block, frame: tuple[int, int]) -> str:
    w, _h = frame
    start = max(0.0, block.first - 0.5)
    end = block.end - 0.5
    lead = round((block.first - start) * 1000)  # ms from the event's start to its 1st frame
    last = lead + (block.end - 1 - block.first) * 1000
    tags = [f"\\an8\\pos({w / 2:.2f},{block.top + block.pad:.2f})"]
    if block.fade_in or block.fade_out:
        t1, t2 = lead, lead + block.fade_in * 1000
        t3, t4 = ((last - block.fade_out * 1000, last) if block.fade_out
                  else (last + 1000, last + 1000))
        tags.append(f"\\fade(255,0,255,{t1},{t2},{t3},{t4})")
    text = "\\N".join(ass_escape(line) for line in block.layout.lines)
    return (f"Dialogue: {n},{_time(start)},{_time(end)},s{n},,0,0,0,,"
            f"{{{''.join(tags)}}}{text}")


def ass_document(blocks: list[Block], frame: tuple[int, int]) -> str:
    """The .ass file drawing ``blocks`` on a ``frame``-sized picture (1 s per frame)."""
    w, h = frame
    lines = ["[Script Info]", "ScriptType: v4.00+", f"PlayResX: {w}", f"PlayResY: {h}",
             "WrapStyle: 2", "ScaledBorderAndShadow: yes", "YCbCr Matrix: None", "",
             "[V4+ Styles]",
             "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
             "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
             "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding"]
    lines += [_style_line(n, b) for n, b in enumerate(blocks)]
    lines += ["", "[Events]", "Format: Layer, Start, End, Style, Name, MarginL, MarginR, "
              "MarginV, Effect, Text"]
    lines += [_event(n, b, frame) for n, b in enumerate(blocks)]
    return "\n".join(lines) + "\n"


def family_name(font_key: str, face: int) -> str:
    """The name the private copy of a font face is known by (see ``standalone_face``)."""
    return f"rendercli {font_key[:16]} {face}"


def _fonts_dir(blocks: list[Block], work_dir: Path) -> Path:
    """A folder in ``work_dir`` holding exactly the font faces ``blocks`` use, each a
    font of its own under a name no other font has."""
    fonts = {(b.font_key, b.face): b.font for b in blocks}
    digest = hashlib.sha256(repr(sorted(fonts)).encode()).hexdigest()[:16]
    target = work_dir / f"fonts-{digest}"
    if target.is_dir():
        return target
    tmp = work_dir / f"fonts-{digest}.{os.getpid()}.{id(blocks)}.tmp"
    tmp.mkdir(parents=True)
    for n, ((key, face), path) in enumerate(sorted(fonts.items())):
        try:
            data = standalone_face(path.read_bytes(), face, family_name(key, face))
        except (OSError, ValueError, struct.error) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise InvalidInput(f"font {path.name!r} is not usable: {exc}") from None
        (tmp / f"font{n}.ttf").write_bytes(data)
    try:
        tmp.rename(target)
    except OSError:  # another segment of the same render made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def text_filters(planned: PlannedItem, first: int, count: int, fps: int,
                 frame: tuple[int, int], work_dir: Path) -> list[str]:
    """Filters drawing the item's title and the texts visible in frames [first,
    first + count) on a stream timed in item-local frames (``settb=1/fps``,
    ``setpts=N+first``); the stream leaves timed the same way. [] when nothing shows."""
    blocks = [b for b in item_blocks(planned, fps, frame) if b.first < first + count
              and b.end > first]
    if not blocks:
        return []
    document = ass_document(blocks, frame)
    name = hashlib.sha256(document.encode()).hexdigest()[:16]
    path = work_dir / f"text-{name}.ass"
    if not path.exists():
        tmp = work_dir / f"text-{name}.{os.getpid()}.{id(blocks)}.tmp"
        tmp.write_text(document, encoding="utf-8")
        tmp.replace(path)
    return [filter_spec("settb", 1), f"setpts=N+{first}",
            filter_spec("ass", filename=path, fontsdir=_fonts_dir(blocks, work_dir)),
            filter_spec("settb", f"1/{fps}"), f"setpts=N+{first}"]


def stack_key(planned: PlannedItem, fps: int) -> list[object]:
    """What, besides a segment's own visible texts, decides where they are drawn: the
    item's other texts, when any two share a placement and a time."""
    texts = planned.item.texts
    ranges = [overlay_range(o, planned.frames, fps) for o in texts]
    for a in range(len(texts)):
        for b in range(a):
            if (texts[a].placement == texts[b].placement and ranges[a][0] < ranges[b][1]
                    and ranges[b][0] < ranges[a][1]):
                return [[o.text, o.placement, o.size, o.effective_style, o.font_sha256,
                         o.font_face, *r] for o, r in zip(texts, ranges, strict=True)]
    return []


def check_fonts(items: Sequence[TimelineItem], settings: RenderSettings | None = None) -> None:
    """Raise InvalidInput unless every font the items name is usable and every character
    of every text is drawn by the text's font or a system font (a missing one would be
    an empty box): the message names the characters and the fonts tried. With
    ``settings``, also unless texts shown together at one placement fit stacked."""
    for n, item in enumerate(items, 1):
        texts: list[tuple[str, str, Path | None, int]] = [
            (f"text {k}", o.text, o.font, o.font_face) for k, o in enumerate(item.texts, 1)]
        if item.title is not None:
            texts.insert(0, ("title", item.title.text, item.title.font, item.title.font_face))
        for what, text, font, face in texts:
            path = font or DEFAULT_FONT
            metrics = font_metrics(path, face)
            if not metrics.outlines:
                raise InvalidInput(f"font {path.name!r} has no outlines (a bitmap-only font "
                                   "cannot be drawn); choose another font")
            named = f" ({item.name})" if item.name else ""
            check_coverage(clean_text(text), metrics, path.name,
                           where=f"timeline item {n}{named}, {what}")
    if settings is not None:
        validate_settings(settings)
        for planned in plan_timeline(items, settings.fps).visual:
            try:
                item_blocks(planned, settings.fps, settings.size)
            except InvalidInput as exc:
                n = next((k for k, it in enumerate(items, 1) if it is planned.item),
                         list(items).index(planned.item) + 1)
                named = f" ({planned.item.name})" if planned.item.name else ""
                raise InvalidInput(f"timeline item {n}{named}: {exc.message}") from None
