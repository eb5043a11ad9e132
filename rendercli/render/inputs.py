"""Input format allow-list for user media.

Placeholder: at merge this is repointed at ``rendercli.media.formats``.
"""

from __future__ import annotations

from pathlib import Path

INPUT_FORMAT_WHITELIST = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,mp3,wav,flac,ogg,aac,png_pipe,jpeg_pipe,webp_pipe,gif,bmp_pipe,tiff_pipe"  # noqa: E501

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
        if head[offset:offset + len(magic)] == magic:
            return demuxer
    return None
