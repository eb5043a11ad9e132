"""Input options for user media: the same format allow-list as ingest, and image demuxers."""

from __future__ import annotations

from pathlib import Path

from rendercli.media.formats import FORMAT_WHITELIST as INPUT_FORMAT_WHITELIST

__all__ = ["INPUT_FORMAT_WHITELIST", "image_demuxer"]

# Still-image demuxers by magic bytes. Forcing the demuxer matters: ffmpeg's probe prefers
# the generic image2 demuxer for some extensions (.jpg), which the allow-list rejects.
_IMAGE_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "png_pipe"),
    (b"\xff\xd8\xff", 0, "jpeg_pipe"),
    (b"GIF8", 0, "gif"),
    (b"BM", 0, "bmp_pipe"),
    (b"WEBP", 8, "webp_pipe"),
    (b"II*\x00", 0, "tiff_pipe"),
    (b"MM\x00*", 0, "tiff_pipe"),
)


def image_demuxer(path: Path) -> str | None:
    """The allow-listed demuxer for a still image, from its first bytes (None: unknown)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None  # let ffmpeg report the missing file
    for magic, offset, demuxer in _IMAGE_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return demuxer
    return None
