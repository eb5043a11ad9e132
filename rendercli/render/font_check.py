"""Whether FreeType can draw with a font: a tiny drawtext render through ffmpeg.

Our table reader (``text.parse_font``) only reads metrics; a font it accepts can still
be one FreeType refuses (no ``maxp`` table, garbage outlines), and that would surface
only at render time, as an unrelated ffmpeg message. So a font is drawn once when it is
added: a few of its own characters on a 64x64 frame, with the same ffmpeg (and so the
same FreeType) that draws titles later.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from rendercli.render.graph import filter_spec

CHECK_TIMEOUT = 20.0  # seconds; drawing a few glyphs takes well under one
SAMPLE = "Aa0"  # drawn when the font has them
_FILTERING = re.compile(r"error while filtering: (.+)$", re.IGNORECASE)


class FontUnusable(ValueError):
    """FreeType (through ffmpeg's drawtext) could not draw with the font; why, in one line."""


def sample_text(code_points: Iterable[int]) -> str:
    """A few characters the font maps: those of SAMPLE it has, else its first printable one
    (else "A", drawn as the font's .notdef glyph)."""
    mapped = set(code_points)
    chosen = "".join(ch for ch in SAMPLE if ord(ch) in mapped)
    if chosen:
        return chosen
    printable = sorted(cp for cp in mapped if 0x20 < cp < 0x110000 and chr(cp).isprintable())
    return chr(printable[0]) if printable else "A"


def draw_command(font: Path, text_file: Path) -> list[str]:
    """ffmpeg argv drawing the text of `text_file` with `font` on one small frame."""
    from rendercli.media.ffmpeg_binary import ffmpeg_path
    from rendercli.render.commands import GLOBAL_ARGS

    drawtext = filter_spec("drawtext", fontfile=font, textfile=text_file, expansion="none",
                           fontsize=32, fontcolor="white", x=4, y=4)
    return [ffmpeg_path(), *GLOBAL_ARGS, "-f", "lavfi", "-i",
            "color=c=black:size=64x64:rate=1:duration=1", "-vf", drawtext,
            "-frames:v", "1", "-f", "null", "-"]


def check_font_draws(font: Path, code_points: Iterable[int], *,
                     timeout: float = CHECK_TIMEOUT) -> None:
    """Draw a few of the font's characters with FreeType. Raises FontUnusable (one line:
    why) if that fails or takes more than `timeout` seconds."""
    from rendercli.render.errors import RenderFailed, RenderTimedOut
    from rendercli.render.runner import run

    with tempfile.TemporaryDirectory(prefix="rendercli-font-") as work:
        text_file = Path(work) / "sample.txt"
        text_file.write_text(sample_text(code_points), encoding="utf-8")
        try:
            run(draw_command(font, text_file), timeout=timeout)
        except RenderTimedOut:
            raise FontUnusable(f"drawing a glyph took more than {timeout:g} s") from None
        except RenderFailed as exc:
            found = next((m.group(1).strip() for line in exc.log.splitlines()
                          if (m := _FILTERING.search(line.strip()))), None)
            raise FontUnusable(f"drawing a glyph failed ({found or exc.reason})") from None
