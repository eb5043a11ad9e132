"""Fonts as project assets: recognised by content, checked by the text engine's parser.

A file whose first bytes are a TrueType or OpenType signature is a font candidate and
never reaches the media probe (FFmpeg). It is accepted only if it is within
``MAX_FONT_BYTES``, the render engine can read its metrics (``render.text.parse_font``),
and FreeType can draw with it (``render.font_check``: a few glyphs drawn by ffmpeg).
Everything else goes to the media probe and its allow-list exactly as before.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from rendercli.errors import InvalidInput
from rendercli.media.info import MediaInfo
from rendercli.media.validate import format_size, open_regular_file
from rendercli.render.font_check import FontUnusable, check_font_draws
from rendercli.render.sfnt import collection_faces
from rendercli.render.text import MAX_FONT_BYTES, parse_font

# sfnt version tags: TrueType (1.0 and Apple's 'true') and OpenType with CFF outlines.
TRUETYPE_SIGNATURES = (b"\x00\x01\x00\x00", b"true")
OPENTYPE_SIGNATURE = b"OTTO"
COLLECTION_SIGNATURE = b"ttcf"
HEAD_BYTES = 6
MAX_TABLES = 512  # real fonts have a few dozen


def looks_like_font(head: bytes) -> bool:
    """Whether a file starting with ``head`` (HEAD_BYTES) is to be treated as a font.

    Besides the signature, the table count must be plausible: a QuickTime file whose
    first atom happens to be 65,536 bytes long starts with the same four bytes as a
    TrueType font, followed by the atom's type (letters: thousands of "tables").
    """
    if head[:4] == COLLECTION_SIGNATURE:
        return True
    if head[:4] not in (*TRUETYPE_SIGNATURES, OPENTYPE_SIGNATURE) or len(head) < HEAD_BYTES:
        return False
    return 0 < int.from_bytes(head[4:6], "big") <= MAX_TABLES


def read_head(path: Path, display_name: str) -> bytes:
    """The first bytes of a (staged) file, for ``looks_like_font``."""
    fd, _size = open_regular_file(path, display_name=display_name)
    try:
        return os.pread(fd, HEAD_BYTES, 0)
    finally:
        os.close(fd)


def probe_font(path: Path, *, display_name: str) -> MediaInfo:
    """Check a font file as the text engine will read it; its facts as an asset.

    Raises InvalidInput naming ``display_name`` unless it is a TTF/OTF font, or a
    TTC/OTC collection whose every face is one, of at most ``MAX_FONT_BYTES`` with the
    tables text layout needs (cmap, hmtx, ...), that libass (FreeType) can draw with.
    """
    fd, size = open_regular_file(path, display_name=display_name)
    try:
        if size > MAX_FONT_BYTES:
            raise InvalidInput(f"{display_name}: font file is {format_size(size)}, above "
                               f"the {format_size(MAX_FONT_BYTES)} limit for fonts")
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(MAX_FONT_BYTES + 1)
    finally:
        os.close(fd)
    try:
        # a collection (.ttc/.otc): its header, then every face (at most MAX_FACES), as
        # texts choose one by index (--face)
        faces = [parse_font(data, face) for face in range(collection_faces(data))]
    except (ValueError, struct.error) as exc:
        kind = "TTC/OTC font collection" if data[:4] == COLLECTION_SIGNATURE else "TTF/OTF font"
        raise InvalidInput(f"{display_name}: not a usable {kind} ({exc})") from None
    try:
        check_font_draws(data, faces)
    except FontUnusable as exc:
        raise InvalidInput(f"font {display_name} cannot be loaded by FreeType: {exc}") from None
    container = "otf" if data[:4] == OPENTYPE_SIGNATURE else "ttf"
    if data[:4] == COLLECTION_SIGNATURE:
        container = "ttc"
    return MediaInfo(
        kind="font", duration=None, width=None, height=None, frame_rate=None, rotation=0,
        container=container, video_codec=None,
        pix_fmt=None, has_audio=False, audio_codec=None, sample_rate=None, channels=None,
    )
