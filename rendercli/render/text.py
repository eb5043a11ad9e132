"""Text on pictures: the shipped font, measuring and wrapping, and drawtext filters.

drawtext has no automatic wrapping, so lines are wrapped here, measured with the font's
own advance widths (read from its ``cmap`` and ``hmtx`` tables: exact for the font in
use, custom fonts included, and no extra dependency). Text that still does not fit is
drawn smaller, and cut with an ellipsis only past a minimum size. The text reaches
ffmpeg as a file (``textfile=``, ``expansion=none``): it is never part of the graph.
"""

from __future__ import annotations

import functools
import hashlib
import struct
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rendercli.errors import InvalidInput
from rendercli.render.graph import filter_spec
from rendercli.render.timeline import (
    PLACEMENTS,
    TextOverlay,
    TimelineItem,
    TitleCard,
    parse_color,
)

FONT_DIR = Path(__file__).with_name("fonts")
DEFAULT_FONT = FONT_DIR / "NotoSans-Bold.ttf"
MAX_FONT_BYTES = 20 * 1024 * 1024

# Font size as a fraction of the frame height.
OVERLAY_SIZES = {"small": 1 / 24, "medium": 1 / 16, "large": 1 / 10}
TITLE_SIZES = {"small": 1 / 14, "medium": 1 / 10, "large": 1 / 7}
MIN_FONT_PX = 10
WIDTH_FILL = 0.90  # text (with its box) spans at most this much of the frame's width
HEIGHT_FILL = 0.90
SAFETY = 0.94  # shaping (kerning, ligatures, RTL) may differ a little from plain advances
BOX_COLOR = "black@0.55"


@dataclass(frozen=True)
class FontMetrics:
    """Advance widths and line height of one font, in font units."""

    units_per_em: int
    line_height: int  # ascender - descender + line gap
    advances: dict[int, int]  # code point -> advance width
    default_advance: int  # for characters the font lacks (drawn as .notdef)

    def width(self, text: str, size: float) -> float:
        """Width in pixels of one line of ``text`` at ``size`` pixels per em."""
        units = sum(self.advances.get(ord(ch), self.default_advance) for ch in text
                    if not unicodedata.combining(ch))
        return units * size / self.units_per_em

    def line_px(self, size: float) -> float:
        return self.line_height * size / self.units_per_em


def _tables(data: bytes) -> dict[bytes, tuple[int, int]]:
    if data[:4] not in (b"\x00\x01\x00\x00", b"OTTO", b"true"):
        raise ValueError("not a TrueType or OpenType font")
    (count,) = struct.unpack_from(">H", data, 4)
    tables = {}
    for n in range(count):
        tag, _checksum, offset, length = struct.unpack_from(">4sIII", data, 12 + 16 * n)
        if offset + length > len(data):
            raise ValueError(f"table {tag!r} runs past the end of the file")
        tables[tag] = (offset, length)
    for needed in (b"head", b"hhea", b"hmtx", b"cmap"):
        if needed not in tables:
            raise ValueError(f"font has no {needed.decode()} table")
    return tables


def _cmap(data: bytes, offset: int) -> dict[int, int]:
    """Code point -> glyph id from the best Unicode subtable (format 12, else 4)."""
    _version, count = struct.unpack_from(">HH", data, offset)
    subtables = {}
    for n in range(count):
        platform, encoding, sub = struct.unpack_from(">HHI", data, offset + 4 + 8 * n)
        fmt = struct.unpack_from(">H", data, offset + sub)[0]
        if (platform, encoding) in ((3, 10), (0, 4), (0, 6), (3, 1), (0, 3)) and fmt in (4, 12):
            subtables[fmt] = offset + sub
    mapping: dict[int, int] = {}
    if 12 in subtables:
        base = subtables[12]
        (groups,) = struct.unpack_from(">I", data, base + 12)
        mapped = 0
        for n in range(groups):
            first, last, glyph = struct.unpack_from(">III", data, base + 16 + 12 * n)
            if last - first > 0x110000:
                raise ValueError("corrupt cmap group")
            # Groups of a real font do not overlap: more than all of Unicode is a font
            # built to make us loop (a font is an asset anyone can add).
            mapped += max(0, min(last, 0x10FFFF) + 1 - first)
            if mapped > 0x110000:
                raise ValueError("corrupt cmap: overlapping groups")
            for cp in range(first, min(last, 0x10FFFF) + 1):
                mapping[cp] = glyph + cp - first
    elif 4 in subtables:
        base = subtables[4]
        seg_count = struct.unpack_from(">H", data, base + 6)[0] // 2
        ends = struct.unpack_from(f">{seg_count}H", data, base + 14)
        starts_at = base + 16 + 2 * seg_count
        starts = struct.unpack_from(f">{seg_count}H", data, starts_at)
        deltas = struct.unpack_from(f">{seg_count}h", data, starts_at + 2 * seg_count)
        ranges_at = starts_at + 4 * seg_count
        ranges = struct.unpack_from(f">{seg_count}H", data, ranges_at)
        if sum(max(0, end - start + 1) for start, end in zip(starts, ends, strict=True)) > 0x10000:
            raise ValueError("corrupt cmap: overlapping segments")
        for s in range(seg_count):
            for cp in range(starts[s], ends[s] + 1):
                if cp == 0xFFFF:
                    continue
                if ranges[s] == 0:
                    glyph = (cp + deltas[s]) & 0xFFFF
                else:
                    at = ranges_at + 2 * s + ranges[s] + 2 * (cp - starts[s])
                    glyph = struct.unpack_from(">H", data, at)[0]
                    glyph = (glyph + deltas[s]) & 0xFFFF if glyph else 0
                if glyph:
                    mapping[cp] = glyph
    else:
        raise ValueError("font has no Unicode character map")
    return mapping


def parse_font(data: bytes) -> FontMetrics:
    """Metrics from the bytes of a TTF/OTF font. Raises ValueError if it is not one."""
    try:
        tables = _tables(data)
        head = tables[b"head"][0]
        units = struct.unpack_from(">H", data, head + 18)[0]
        hhea = tables[b"hhea"][0]
        ascender, descender, gap = struct.unpack_from(">hhh", data, hhea + 4)
        metrics_count = struct.unpack_from(">H", data, hhea + 34)[0]
        hmtx, hmtx_len = tables[b"hmtx"]
        if metrics_count == 0 or 4 * metrics_count > hmtx_len or not 16 <= units <= 16384:
            raise ValueError("corrupt font metrics")
        widths = [struct.unpack_from(">H", data, hmtx + 4 * g)[0] for g in range(metrics_count)]
        glyphs = _cmap(data, tables[b"cmap"][0])
    except struct.error as exc:
        raise ValueError(f"truncated or corrupt font: {exc}") from None
    last = widths[-1]
    advances = {cp: widths[g] if g < metrics_count else last for cp, g in glyphs.items()}
    return FontMetrics(units, max(1, ascender - descender + gap), advances, widths[0])


@functools.lru_cache(maxsize=8)
def _load(path: str, _size: int, _mtime: float) -> FontMetrics:
    return parse_font(Path(path).read_bytes())


def font_metrics(path: Path) -> FontMetrics:
    """The metrics of a font file (cached per file version). Raises InvalidInput."""
    try:
        stat = path.stat()
        if not path.is_file() or stat.st_size > MAX_FONT_BYTES:
            raise InvalidInput(f"font {path.name!r} is not a regular file under "
                               f"{MAX_FONT_BYTES // 2**20} MiB")
        return _load(str(path), stat.st_size, stat.st_mtime)
    except OSError as exc:
        raise InvalidInput(f"cannot read font {path.name!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise InvalidInput(f"font {path.name!r} is not usable: {exc}") from None


def check_fonts(items: Sequence[TimelineItem]) -> None:
    """Raise InvalidInput unless every font the items name is a usable TTF/OTF file."""
    for item in items:
        fonts = [o.font for o in item.texts]
        if item.title is not None:
            fonts.append(item.title.font)
        for font in fonts:
            if font is not None:
                font_metrics(Path(font))


def clean_text(text: str) -> str:
    """Line breaks normalised to ``\\n``, tabs to spaces, other control characters dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n").replace("\t", "    ")
    return "".join(ch for ch in text
                   if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cs"))


def _wrap_paragraph(paragraph: str, fits) -> list[str]:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    current = ""
    for word in paragraph.split(" "):
        candidate = f"{current} {word}" if current else word
        if fits(candidate):
            current = candidate
            continue
        if current:
            lines.append(current)
        current = ""
        while word and not fits(word):  # a word wider than the frame: break it
            cut = 1
            while cut < len(word) and fits(word[: cut + 1]):
                cut += 1
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    lines.append(current)
    return lines


def wrap_text(text: str, metrics: FontMetrics, size: float, max_width: float) -> list[str]:
    """``text`` broken into lines no wider than ``max_width`` pixels at ``size``."""
    def fits(line: str) -> bool:
        return metrics.width(line, size) <= max_width

    lines: list[str] = []
    for paragraph in clean_text(text).split("\n"):
        lines.extend(_wrap_paragraph(paragraph.rstrip(), fits))
    while lines and not lines[-1].strip():
        lines.pop()
    return lines or [""]


@dataclass(frozen=True)
class TextLayout:
    """Wrapped lines and the size they are drawn at."""

    lines: tuple[str, ...]
    size: int  # pixels per em
    line_spacing: int
    box_border: int

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def layout_text(text: str, metrics: FontMetrics, frame: tuple[int, int], fraction: float,
                *, box: bool) -> TextLayout:
    """Fit ``text`` into the frame: wrap at the requested size, shrink while it is too
    tall, and past the minimum size keep the lines that fit and end with an ellipsis."""
    w, h = frame
    size = max(MIN_FONT_PX, round(h * fraction))
    while True:
        border = max(2, round(size * 0.35)) if box else 0
        spacing = round(size * 0.15)
        max_width = (w * WIDTH_FILL - 2 * border) * SAFETY
        lines = wrap_text(text, metrics, size, max_width)
        line_px = metrics.line_px(size) + spacing
        room = h * HEIGHT_FILL - 2 * border
        if len(lines) * line_px <= room:
            return TextLayout(tuple(lines), size, spacing, border)
        if size <= MIN_FONT_PX:
            keep = max(1, int(room // line_px))
            last = lines[keep - 1]
            while last and metrics.width(last + "\u2026", size) > max_width:
                last = last[:-1]
            return TextLayout((*lines[: keep - 1], last + "\u2026"), size, spacing, border)
        size = max(MIN_FONT_PX, int(size * 0.85))


def write_text_file(directory: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to a file named by its content; drawtext reads it."""
    name = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = directory / f"text-{name}.txt"
    if not path.exists():
        path.write_text(text, encoding="utf-8")
    return path


def _y_expression(placement: str) -> str:
    if placement == "top":
        return "h*0.06"
    if placement == "center":
        return "(h-text_h)/2"
    # the block's bottom at 90% of the height; a tall block grows upwards from there
    return "max(h*0.05,h*0.90-text_h)"


def _text_align() -> bool:
    """Whether the ffmpeg in use has drawtext's ``text_align`` (FFmpeg 6.1+)."""
    from rendercli.media.ffmpeg_binary import chosen

    return chosen().features.text_align


def _drawtext(layout: TextLayout, work_dir: Path, font: Path, color: str, placement: str,
              frame: tuple[int, int], *, box: bool, enable: str | None = None) -> str:
    if not _text_align():
        return _drawtext_lines(layout, work_dir, font, color, placement, frame, box=box,
                               enable=enable)
    y = _y_expression(placement)
    options: dict[str, object] = {
        "fontfile": font, "textfile": write_text_file(work_dir, layout.text),
        "expansion": "none", "fontsize": layout.size, "fontcolor": parse_color(color),
        "line_spacing": layout.line_spacing, "text_align": "C",
        "x": "(w-text_w)/2", "y": y,
    }
    if box:
        options.update(box=1, boxcolor=BOX_COLOR, boxborderw=layout.box_border)
    if enable is not None:
        options["enable"] = enable
    return filter_spec("drawtext", **options)


def _drawtext_lines(layout: TextLayout, work_dir: Path, font: Path, color: str,
                    placement: str, frame: tuple[int, int], *, box: bool,
                    enable: str | None) -> str:
    """Centred lines on an ffmpeg without ``text_align``: one drawtext per line, placed
    with the font's line height, and one box (drawbox) behind the whole block."""
    w, h = frame
    metrics = font_metrics(font)
    pitch = metrics.line_px(layout.size) + layout.line_spacing
    block = len(layout.lines) * pitch - layout.line_spacing
    top = {"top": h * 0.06, "center": (h - block) / 2}.get(
        placement, max(h * 0.05, h * 0.90 - block))
    parts = []
    if box:
        border = layout.box_border
        widest = max(metrics.width(line, layout.size) for line in layout.lines)
        parts.append(filter_spec(
            "drawbox", x=round((w - widest) / 2 - border), y=round(top - border),
            w=round(widest + 2 * border), h=round(block + 2 * border), color=BOX_COLOR,
            t="fill", enable=enable))
    for n, line in enumerate(layout.lines):
        if not line.strip():
            continue
        parts.append(filter_spec(
            "drawtext", fontfile=font, textfile=write_text_file(work_dir, line),
            expansion="none", fontsize=layout.size, fontcolor=parse_color(color),
            x="(w-text_w)/2", y=f"{top + n * pitch:.2f}", enable=enable))
    return ",".join(parts) or "null"


def overlay_filter(overlay: TextOverlay, frame: tuple[int, int], work_dir: Path,
                   enable: str | None) -> str:
    """The drawtext filter drawing one overlay; writes its text file into ``work_dir``."""
    if overlay.placement not in PLACEMENTS:
        raise InvalidInput(f"unknown placement {overlay.placement!r}")
    font = overlay.font or DEFAULT_FONT
    layout = layout_text(overlay.text, font_metrics(font), frame,
                         OVERLAY_SIZES[overlay.size], box=overlay.box)
    return _drawtext(layout, work_dir, font, overlay.color, overlay.placement, frame,
                     box=overlay.box, enable=enable)


def title_filter(card: TitleCard, frame: tuple[int, int], work_dir: Path) -> str:
    """The drawtext filter drawing a title card's text, centred."""
    font = card.font or DEFAULT_FONT
    layout = layout_text(card.text, font_metrics(font), frame, TITLE_SIZES[card.size],
                         box=False)
    return _drawtext(layout, work_dir, font, card.color, "center", frame, box=False)


def fit_line(text: str, metrics: FontMetrics, size: float, max_width: float) -> str:
    """``text`` on one line, cut to ``max_width`` pixels with a trailing "…" if needed."""
    line = " ".join(clean_text(text).split())
    if metrics.width(line, size) <= max_width:
        return line
    while line and metrics.width(line + "\u2026", size) > max_width:
        line = line[:-1]
    return line.rstrip() + "\u2026"


def label_filter(text: str, work_dir: Path, *, x: int, y: int, size: int, color: str,
                 max_width: float) -> str:
    """A one-line label (a storyboard caption) drawn with the shipped font; the text is
    data, read from a file like every other text."""
    line = fit_line(text, font_metrics(DEFAULT_FONT), size, max_width * SAFETY) or " "
    return filter_spec("drawtext", fontfile=DEFAULT_FONT, textfile=write_text_file(work_dir, line),
                       expansion="none", fontsize=size, fontcolor=parse_color(color), x=x, y=y)
