"""The allow-list of media containers rendercli accepts, in FFmpeg's terms.

Every input FFmpeg opens for us (the probe here, and each ``-i`` of a render) must carry
``format_whitelist=FORMAT_WHITELIST`` and a protocol whitelist. FFmpeg checks the format
whitelist after detecting the demuxer and before the demuxer reads anything, so a
playlist-like demuxer (hls, concat, dash, image2 with its filename patterns, ...) can
never open another file on our behalf.

Images are read through the content-sniffing ``*_pipe`` demuxers, never ``image2``:
image2 is chosen by file extension and expands ``%d``/glob patterns into other files.
A consequence: FFmpeg picks image2 for a name ending in ``.png``/``.jpg`` and the
whitelist then refuses it, which is why stored objects have no extension (and why
``ffmpeg_input_args`` pins the demuxer with ``-f`` when the caller knows it).
"""

from __future__ import annotations

import os
from pathlib import Path

# Demuxer name (the first name FFmpeg lists for it) -> default short container name.
# The mov demuxer also reads mp4/m4a/3gp; matroska also reads webm: probe refines those.
DEMUXER_CONTAINERS: dict[str, str] = {
    "mov": "mp4",
    "matroska": "matroska",
    "avi": "avi",
    "mpegts": "mpegts",
    "mp3": "mp3",
    "wav": "wav",
    "flac": "flac",
    "ogg": "ogg",
    "aac": "aac",
    "png_pipe": "png",
    "jpeg_pipe": "jpeg",
    "webp_pipe": "webp",
    "gif": "gif",
    "gif_pipe": "gif",
    "bmp_pipe": "bmp",
    "tiff_pipe": "tiff",
}

# The value for FFmpeg's ``format_whitelist`` option (comma-separated demuxer names).
FORMAT_WHITELIST: str = ",".join(DEMUXER_CONTAINERS)

# Still-image containers: one decoded frame makes an image, more make a video (animated gif).
IMAGE_CONTAINERS: frozenset[str] = frozenset({"png", "jpeg", "webp", "gif", "bmp", "tiff"})

# Protocols: ffmpeg renders read stored files by name; the probe reads an open descriptor.
FILE_PROTOCOL_WHITELIST = "file"
FD_PROTOCOL_WHITELIST = "fd"


def demuxer_key(format_name: str) -> str:
    """The allow-list key for an FFmpeg demuxer name: ``"mov,mp4,m4a,..."`` -> ``"mov"``."""
    return format_name.split(",", 1)[0]


def container_for(format_name: str) -> str | None:
    """The short container name for an opened demuxer, or None when it is not allowed."""
    return DEMUXER_CONTAINERS.get(demuxer_key(format_name))


def input_options(protocol_whitelist: str = FILE_PROTOCOL_WHITELIST) -> dict[str, str]:
    """AVFormatContext options for opening one input safely (PyAV ``container_options``)."""
    return {"format_whitelist": FORMAT_WHITELIST, "protocol_whitelist": protocol_whitelist}


def ffmpeg_input_args(path: Path, demuxer: str | None = None) -> list[str]:
    """ffmpeg command-line arguments for one input file, ending with ``-i``.

    The path is made absolute and prefixed with ``file:`` so a name starting with ``-`` or
    containing ``:`` is never read as an option or another protocol. Pass ``demuxer``
    (``MediaInfo.demuxer``) to skip detection and demux exactly as the probe did.
    """
    args = ["-protocol_whitelist", FILE_PROTOCOL_WHITELIST, "-format_whitelist", FORMAT_WHITELIST]
    if demuxer is not None:
        if demuxer not in DEMUXER_CONTAINERS:
            raise ValueError(f"demuxer {demuxer!r} is not on the allow-list")
        args += ["-f", demuxer]
    # os.fsdecode keeps undecodable bytes as surrogates; subprocess re-encodes them exactly.
    return [*args, "-i", "file:" + os.fsdecode(os.path.abspath(path))]
