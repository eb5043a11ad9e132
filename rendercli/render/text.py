"""Text on pictures: the shipped font, reading fonts, measuring and wrapping.

Lines are wrapped here, measured with the font's own advance widths (read from its
``cmap`` and ``hmtx`` tables: exact for the font in use, custom fonts and faces of
``.ttc``/``.otc`` collections included, and no extra dependency). Text that still does
not fit is drawn smaller, and cut with an ellipsis only past a minimum size. Titles and
texts are drawn by libass (``subtitles.py``); storyboard labels by drawtext, whose text
reaches ffmpeg as a file (``textfile=``, ``expansion=none``), never in the graph.
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from rendercli.errors import InvalidInput
from rendercli.render.graph import filter_spec
from rendercli.render.sfnt import (  # noqa: F401  (callers read fonts through this module)
    FontMetrics,
    collection_faces,
    parse_font,
    standalone_face,
)
from rendercli.render.timeline import parse_color

FONT_DIR = Path(__file__).with_name("fonts")
DEFAULT_FONT = FONT_DIR / "NotoSans-Bold.ttf"
MAX_FONT_BYTES = 48 * 1024 * 1024  # CJK collections run to 20-30 MB

# Font size as a fraction of the frame height.
OVERLAY_SIZES = {"small": 1 / 24, "medium": 1 / 16, "large": 1 / 10}
TITLE_SIZES = {"small": 1 / 14, "medium": 1 / 10, "large": 1 / 7}
MIN_FONT_PX = 10
WIDTH_FILL = 0.90  # text (with its box) spans at most this much of the frame's width
HEIGHT_FILL = 0.90
SAFETY = 0.94  # shaping (kerning, ligatures, RTL) may differ a little from plain advances


@functools.lru_cache(maxsize=16)
def _load(path: str, face: int, _size: int, _mtime: float) -> FontMetrics:
    return parse_font(Path(path).read_bytes(), face)


def font_metrics(path: Path, face: int = 0) -> FontMetrics:
    """The metrics of a font file, or of one face of a collection (cached per file
    version). Raises InvalidInput."""
    try:
        stat = path.stat()
        if not path.is_file() or stat.st_size > MAX_FONT_BYTES:
            raise InvalidInput(f"font {path.name!r} is not a regular file under "
                               f"{MAX_FONT_BYTES // 2**20} MiB")
        return _load(str(path), face, stat.st_size, stat.st_mtime)
    except OSError as exc:
        raise InvalidInput(f"cannot read font {path.name!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise InvalidInput(f"font {path.name!r} is not usable: {exc}") from None


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
                *, box: bool, max_height: float | None = None) -> TextLayout:
    """Fit ``text`` into the frame (or into ``max_height`` pixels of it): wrap at the
    requested size, shrink while it is too tall, and past the minimum size keep the
    lines that fit and end with an ellipsis."""
    w, h = frame
    size = max(MIN_FONT_PX, round(h * fraction))
    while True:
        border = max(2, round(size * 0.35)) if box else 0
        spacing = round(size * 0.15)
        max_width = (w * WIDTH_FILL - 2 * border) * SAFETY
        lines = wrap_text(text, metrics, size, max_width)
        line_px = metrics.line_px(size) + spacing
        room = (h * HEIGHT_FILL if max_height is None else max_height) - 2 * border
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
