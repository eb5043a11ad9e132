"""Which characters some font can draw: the text's own font first, then the system's.

libass falls back through fontconfig for a character the chosen font lacks; a character
no font has would be drawn as an empty box. So before anything renders, every character
is looked up in the cmap of the text's font, then of the fonts installed on the system
(``fc-list``, else a scan of the standard font folders; bounded, cached per process and
per file version). Only the cmap table of a system font is read, never the whole file.
"""

from __future__ import annotations

import functools
import os
import shutil
import struct
import subprocess
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from rendercli.errors import InvalidInput
from rendercli.render.sfnt import OUTLINE_TABLES, read_cmap, read_family

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
MAX_SYSTEM_FONTS = 4000
MAX_CMAP_BYTES = 8 * 1024 * 1024
MAX_SYSTEM_FONT_BYTES = 256 * 1024 * 1024
FC_LIST_TIMEOUT = 20.0
SHOWN_MISSING = 8


def needs_glyph(ch: str) -> bool:
    """Whether ``ch`` must be drawn by some font: not spacing, controls or the format and
    variation marks that shaping consumes (ZWJ, variation selectors, bidi marks)."""
    if ch.isspace():
        return False
    category = unicodedata.category(ch)
    if category in ("Cc", "Cf", "Zs", "Zl", "Zp"):
        return False
    cp = ord(ch)
    return not (0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF)


@functools.lru_cache(maxsize=4)
def system_font_files(_config: str | None) -> tuple[str, ...]:
    """Font files fontconfig knows (what libass falls back to), else the standard folders'
    font files. Bounded in count; cached per fontconfig configuration."""
    fc_list = shutil.which("fc-list")
    if fc_list:
        try:
            proc = subprocess.run([fc_list, "--format", "%{file}\\n"], capture_output=True,
                                  timeout=FC_LIST_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
            if proc.returncode == 0:
                files = sorted({line for line in proc.stdout.decode("utf-8", "replace")
                                .splitlines() if line.lower().endswith(FONT_SUFFIXES)})
                return tuple(files[:MAX_SYSTEM_FONTS])
        except (OSError, subprocess.SubprocessError):
            pass
    found: list[str] = []
    for folder in FONT_DIRS:
        for root, _dirs, names in os.walk(os.path.expanduser(folder)):
            found += [os.path.join(root, n) for n in sorted(names)
                      if n.lower().endswith(FONT_SUFFIXES)]
            if len(found) >= MAX_SYSTEM_FONTS:
                return tuple(found[:MAX_SYSTEM_FONTS])
    return tuple(found)


def _read(fh, offset: int, size: int) -> bytes:  # type: ignore[no-untyped-def]
    fh.seek(offset)
    data = fh.read(size)
    if len(data) != size:
        raise ValueError("truncated font")
    return data


def _face_cmap(fh, base: int) -> tuple[str, frozenset[int]]:  # type: ignore[no-untyped-def]
    count = struct.unpack(">H", _read(fh, base + 4, 2))[0]
    if not 0 < count <= 512:
        raise ValueError("implausible table count")
    directory = _read(fh, base + 12, 16 * count)
    tables = {}
    for n in range(count):
        tag, _sum, offset, length = struct.unpack_from(">4sIII", directory, 16 * n)
        tables[tag] = (offset, length)
    if b"cmap" not in tables or not any(t in tables for t in OUTLINE_TABLES):
        return "", frozenset()  # nothing libass could draw
    offset, length = tables[b"cmap"]
    if length > MAX_CMAP_BYTES:
        raise ValueError("cmap too large")
    family = ""
    if b"name" in tables and tables[b"name"][1] <= MAX_CMAP_BYTES:
        name_at, name_len = tables[b"name"]
        try:
            family = read_family(_read(fh, name_at, name_len), 0, name_len)
        except (ValueError, struct.error):
            family = ""
    return family, frozenset(read_cmap(_read(fh, offset, length), 0))


@functools.lru_cache(maxsize=MAX_SYSTEM_FONTS)
def system_font_cmap(path: str, _size: int, _mtime: float) -> tuple[str, frozenset[int]]:
    """(family, code points) of a system font file, all faces of a collection together;
    ("", empty) for a file that is not a drawable font."""
    try:
        with open(path, "rb") as fh:
            head = _read(fh, 0, 12)
            bases = [0]
            if head[:4] == b"ttcf":
                faces = min(struct.unpack_from(">I", head, 8)[0], 64)
                bases = list(struct.unpack(f">{faces}I", _read(fh, 12, 4 * faces)))
            family, points = "", frozenset[int]()
            for base in bases:
                name, cmap = _face_cmap(fh, base)
                family, points = family or name, points | cmap
            return family, points
    except (OSError, ValueError, struct.error):
        return "", frozenset()


def _system_fonts() -> Iterator[tuple[str, frozenset[int]]]:
    for path in system_font_files(os.environ.get("FONTCONFIG_FILE")):
        try:
            stat = os.stat(path)
        except OSError:
            continue
        if stat.st_size <= MAX_SYSTEM_FONT_BYTES:
            family, points = system_font_cmap(path, stat.st_size, stat.st_mtime)
            if points:
                yield family or Path(path).name, points


def check_coverage(text: str, metrics, font_name: str, *, where: str) -> None:  # type: ignore[no-untyped-def]
    """Raise InvalidInput unless every character of ``text`` that needs a glyph is in
    the text's font (``metrics``) or in some system font (read only as far as needed)."""
    missing = {ch for ch in text if needs_glyph(ch) and not metrics.covers(ch)}
    families: set[str] = set()
    for family, points in _system_fonts() if missing else ():
        families.add(family)
        missing = {ch for ch in missing if ord(ch) not in points}
        if not missing:
            return
    if not missing:
        return
    ordered = sorted(missing)
    shown = ", ".join(f"U+{ord(ch):04X} {ch!r}" for ch in ordered[:SHOWN_MISSING])
    more = f" and {len(ordered) - SHOWN_MISSING} more" if len(ordered) > SHOWN_MISSING else ""
    names = sorted(families)
    tried = f"{font_name!r} then {len(names)} system font famil" + (
        "y" if len(names) == 1 else "ies")
    if names:
        tried += " (" + ", ".join(names[:6]) + (", ..." if len(names) > 6 else "") + ")"
    raise InvalidInput(f"{where}: no font can draw {shown}{more}; tried {tried}. Add a font "
                       "that has them (asset add FONT, then --font) or install one on the "
                       "system")
