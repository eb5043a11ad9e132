"""Reading TrueType/OpenType fonts and collections: just the tables text layout needs.

Metrics (``head``, ``hhea``, ``hmtx``, ``OS/2``), the character map (``cmap``, format 12
or 4) and the family name (``name``), from a single font or one face of a ``.ttc``/``.otc``
collection; every read is bounded, so a font built to make the reader loop or run past
its end is a ValueError. ``standalone_face`` writes one face as a font of its own under a
new family name (how libass is made to draw exactly that face).
"""

from __future__ import annotations

import struct
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class FontMetrics:
    """Advance widths and line height of one font, in font units."""

    units_per_em: int
    line_height: int  # ascender - descender + line gap
    advances: dict[int, int]  # code point -> advance width
    default_advance: int  # for characters the font lacks (drawn as .notdef)
    family: str = ""  # name ID 1, what libass selects the font by
    weight: int = 400
    italic: bool = False
    ass_height: int = 0  # libass sizes a font by this (OS/2 win ascent + descent)
    outlines: bool = True  # glyf or CFF: drawable by libass (not a bitmap-only font)

    def covers(self, ch: str) -> bool:
        return ord(ch) in self.advances

    def width(self, text: str, size: float) -> float:
        """Width in pixels of one line of ``text`` at ``size`` pixels per em."""
        units = sum(self.advances.get(ord(ch), self.default_advance) for ch in text
                    if not unicodedata.combining(ch))
        return units * size / self.units_per_em

    def line_px(self, size: float) -> float:
        return self.line_height * size / self.units_per_em


MAX_FACES = 64  # faces in one collection (real ones hold a few to a few dozen)
OUTLINE_TABLES = (b"glyf", b"CFF ", b"CFF2")


def face_offset(data: bytes, face: int = 0) -> int:
    """Where face ``face`` starts: 0 for a single font, else from the collection header
    (``ttcf``: version, face count, one offset per face). Raises ValueError."""
    if data[:4] != b"ttcf":
        if face != 0:
            raise ValueError(f"a single font has no face {face}")
        return 0
    try:
        count = struct.unpack_from(">I", data, 8)[0]
        if not 0 < count <= MAX_FACES:
            raise ValueError(f"collection has {count} faces (at most {MAX_FACES} allowed)")
        if not 0 <= face < count:
            raise ValueError(f"collection has faces 0 to {count - 1}, not {face}")
        offset = struct.unpack_from(">I", data, 12 + 4 * face)[0]
    except struct.error as exc:
        raise ValueError(f"truncated collection header: {exc}") from None
    if not 12 <= offset < len(data):
        raise ValueError(f"face {face} starts past the end of the file")
    return offset


def collection_faces(data: bytes) -> int:
    """The number of faces in a font file (1 unless it is a collection)."""
    if data[:4] != b"ttcf":
        return 1
    face_offset(data, 0)
    return struct.unpack_from(">I", data, 8)[0]


def _tables(data: bytes, base: int = 0) -> dict[bytes, tuple[int, int]]:
    if data[base:base + 4] not in (b"\x00\x01\x00\x00", b"OTTO", b"true"):
        raise ValueError("not a TrueType or OpenType font")
    (count,) = struct.unpack_from(">H", data, base + 4)
    if not 0 < count <= 512:
        raise ValueError(f"implausible table count {count}")
    tables = {}
    for n in range(count):
        tag, _checksum, offset, length = struct.unpack_from(">4sIII", data, base + 12 + 16 * n)
        if offset + length > len(data):
            raise ValueError(f"table {tag!r} runs past the end of the file")
        tables[tag] = (offset, length)
    for needed in (b"head", b"hhea", b"hmtx", b"cmap"):
        if needed not in tables:
            raise ValueError(f"font has no {needed.decode()} table")
    return tables


def read_cmap(data: bytes, offset: int) -> dict[int, int]:
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


def read_family(data: bytes, offset: int, length: int) -> str:
    """The family name (name ID 1), as libass matches it: Windows Unicode first."""
    _fmt, count, strings = struct.unpack_from(">HHH", data, offset)
    found: dict[int, str] = {}
    for n in range(min(count, 2048)):
        platform, encoding, lang, name_id, size, at = struct.unpack_from(
            ">HHHHHH", data, offset + 6 + 12 * n)
        if name_id != 1 or strings + at + size > length:
            continue
        raw = data[offset + strings + at: offset + strings + at + size]
        if platform == 3 and encoding in (0, 1, 10):
            found.setdefault(0 if lang == 0x409 else 1, raw.decode("utf-16-be", "replace"))
        elif platform == 1 and encoding == 0:
            found.setdefault(2, raw.decode("mac_roman", "replace"))
    return found[min(found)].strip() if found else ""


def parse_font(data: bytes, face: int = 0) -> FontMetrics:
    """Metrics from the bytes of a TTF/OTF font, or of face ``face`` of a TTC/OTC
    collection. Raises ValueError if it is not one."""
    try:
        tables = _tables(data, face_offset(data, face))
        head = tables[b"head"][0]
        units = struct.unpack_from(">H", data, head + 18)[0]
        hhea = tables[b"hhea"][0]
        ascender, descender, gap = struct.unpack_from(">hhh", data, hhea + 4)
        metrics_count = struct.unpack_from(">H", data, hhea + 34)[0]
        hmtx, hmtx_len = tables[b"hmtx"]
        if metrics_count == 0 or 4 * metrics_count > hmtx_len or not 16 <= units <= 16384:
            raise ValueError("corrupt font metrics")
        widths = [struct.unpack_from(">H", data, hmtx + 4 * g)[0] for g in range(metrics_count)]
        glyphs = read_cmap(data, tables[b"cmap"][0])
        weight, italic = 400, bool(struct.unpack_from(">H", data, head + 44)[0] & 2)
        height = ascender - descender
        if b"OS/2" in tables and tables[b"OS/2"][1] >= 78:
            os2 = tables[b"OS/2"][0]
            weight = struct.unpack_from(">H", data, os2 + 4)[0]
            italic = bool(struct.unpack_from(">H", data, os2 + 62)[0] & 1)
            win_ascent, win_descent = struct.unpack_from(">HH", data, os2 + 74)
            height = win_ascent + win_descent or height
        family = read_family(data, *tables[b"name"]) if b"name" in tables else ""
    except struct.error as exc:
        raise ValueError(f"truncated or corrupt font: {exc}") from None
    last = widths[-1]
    advances = {cp: widths[g] if g < metrics_count else last for cp, g in glyphs.items()}
    return FontMetrics(units, max(1, ascender - descender + gap), advances, widths[0],
                       family=family, weight=min(max(weight, 1), 1000), italic=italic,
                       ass_height=max(1, height),
                       outlines=any(t in tables for t in OUTLINE_TABLES))


def _name_table(family: str) -> bytes:
    """A ``name`` table naming only the family (IDs 1, 2, 4 and 6), Windows Unicode."""
    names = [(1, family), (2, "Regular"), (4, family), (6, family.replace(" ", "-"))]
    records, strings = b"", b""
    for name_id, text in names:
        raw = text.encode("utf-16-be")
        records += struct.pack(">HHHHHH", 3, 1, 0x409, name_id, len(raw), len(strings))
        strings += raw
    return struct.pack(">HHH", 0, len(names), 6 + len(records)) + records + strings


def standalone_face(data: bytes, face: int, family: str) -> bytes:
    """Face ``face`` of a font file as a font of its own, renamed to ``family`` (its other
    tables as they are). libass selects fonts by family name, so a unique name makes it
    draw exactly this face, never a system font or another face of the same name."""
    base = face_offset(data, face)
    tables = [(tag, data[offset:offset + length])
              for tag, (offset, length) in _tables(data, base).items() if tag != b"name"]
    tables = sorted([*tables, (b"name", _name_table(family))])
    count = len(tables)
    selector = count.bit_length() - 1
    search = 16 << selector
    header = data[base:base + 4] + struct.pack(">HHHH", count, search, selector,
                                               16 * count - search)
    directory, body = b"", b""
    offset = 12 + 16 * count
    for tag, table in tables:
        padded = table + b"\0" * (-len(table) % 4)
        checksum = sum(struct.unpack(f">{len(padded) // 4}I", padded)) & 0xFFFFFFFF
        directory += struct.pack(">4sIII", tag, checksum, offset + len(body), len(table))
        body += padded
    return header + directory + body
