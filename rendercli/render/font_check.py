"""Whether libass (FreeType) can draw with a font: a tiny render through ffmpeg.

Our table reader (``sfnt.parse_font``) only reads metrics; a font it accepts can still
be one FreeType refuses (no ``maxp`` table, garbage outlines). libass then draws nothing,
or quietly another font, and nothing fails. So a font is drawn once when it is added: a
few of each face's own characters on a 64x64 frame, through the same ffmpeg ``ass``
filter and the same private copies of its faces (``sfnt.standalone_face``) that draw
texts later, and libass's own report of the render is read: a glyph it could not load,
or a character it had to look for in another font, means the face is not usable.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from rendercli.media.ffmpeg_binary import ffmpeg_path
from rendercli.render.errors import RenderFailed, RenderTimedOut
from rendercli.render.graph import filter_spec
from rendercli.render.runner import run
from rendercli.render.sfnt import standalone_face

CHECK_TIMEOUT = 20.0  # seconds; drawing a few glyphs takes well under one
SAMPLE = "Aa0"  # drawn when the face has them
FAMILY = "rendercli font check {}"  # the family each face is copied under
# libass (through ffmpeg at -loglevel level+verbose) cannot draw with a face when it
# warns (e.g. "Error loading glyph") or looks for a character in another font.
_ASS_LINE = re.compile(r"^\[Parsed_ass_\d+ @ [^\]]*\] \[(\w+)\] (.*)$")
_TROUBLE_LEVELS = ("warning", "error", "fatal", "panic")
_FALLBACK = re.compile(r"not found, selecting one more font", re.IGNORECASE)


class FontUnusable(ValueError):
    """libass could not draw with the font; why, in one line."""


def sample_text(code_points: Iterable[int]) -> str:
    """A few characters the face maps: those of SAMPLE it has, else its first printable
    one (else "A", which libass draws as the face's .notdef glyph)."""
    mapped = set(code_points)
    chosen = "".join(ch for ch in SAMPLE if ord(ch) in mapped)
    if chosen:
        return chosen
    printable = sorted(cp for cp in mapped if 0x20 < cp < 0x110000 and chr(cp).isprintable()
                       and chr(cp) not in "{}\\")
    return chr(printable[0]) if printable else "A"


def ass_document(samples: Sequence[str]) -> str:
    """An .ass file drawing ``samples[n]`` with the face copied as FAMILY.format(n)."""
    lines = ["[Script Info]", "ScriptType: v4.00+", "PlayResX: 64", "PlayResY: 64", "",
             "[V4+ Styles]",
             "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
             "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
             "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding"]
    lines += [f"Style: s{n},{FAMILY.format(n)},24,&H00FFFFFF,&H00FFFFFF,&H00000000,"
              "&H00000000,0,0,0,0,100,100,0,0,1,0,0,5,0,0,0,1" for n in range(len(samples))]
    lines += ["", "[Events]", "Format: Layer, Start, End, Style, Name, MarginL, MarginR, "
              "MarginV, Effect, Text"]
    lines += [f"Dialogue: {n},0:00:00.00,0:00:05.00,s{n},,0,0,0,,{{\\an5\\pos(32,32)}}{text}"
              for n, text in enumerate(samples)]
    return "\n".join(lines) + "\n"


def draw_command(document: Path, fonts_dir: Path) -> list[str]:
    """ffmpeg argv drawing `document` on one small frame, libass reporting at verbose."""
    return [ffmpeg_path(), "-nostdin", "-y", "-hide_banner", "-loglevel", "level+verbose",
            "-nostats", "-f", "lavfi", "-i", "color=c=black:size=64x64:rate=1:duration=1",
            "-vf", filter_spec("ass", filename=document, fontsdir=fonts_dir),
            "-frames:v", "1", "-f", "null", "-"]


def trouble(stderr: str) -> str | None:
    """The first thing libass reported that means a face was not drawn, if any."""
    for line in stderr.splitlines():
        found = _ASS_LINE.match(line.strip())
        if found and (found.group(1) in _TROUBLE_LEVELS or _FALLBACK.search(found.group(2))):
            return found.group(2).strip()[:200]
    return None


def check_font_draws(data: bytes, faces: Sequence[object], *,
                     timeout: float = CHECK_TIMEOUT) -> None:
    """Draw a few characters of every face of the font file `data` (`faces`: each face's
    metrics, with `advances`) with libass. Raises FontUnusable (one line: why) if libass
    cannot draw one, or the render fails or takes more than `timeout` seconds."""
    with tempfile.TemporaryDirectory(prefix="rendercli-font-") as work:
        fonts_dir = Path(work) / "fonts"
        fonts_dir.mkdir()
        for n in range(len(faces)):
            (fonts_dir / f"face{n}.ttf").write_bytes(standalone_face(data, n, FAMILY.format(n)))
        document = Path(work) / "check.ass"
        document.write_text(ass_document(
            [sample_text(getattr(face, "advances", {})) for face in faces]), encoding="utf-8")
        try:
            stderr = run(draw_command(document, fonts_dir), timeout=timeout)
        except RenderTimedOut:
            raise FontUnusable(f"drawing a glyph took more than {timeout:g} s") from None
        except RenderFailed as exc:
            raise FontUnusable(f"drawing a glyph failed ({exc.reason})") from None
    problem = trouble(stderr)
    if problem is not None:
        raise FontUnusable(f"libass: {problem}")
