"""One colour pipeline: every source converted explicitly into the working colour space
(BT.709, limited range, 8-bit 4:2:0 or 4:4:4), every segment tagged the same.

A source's conversion comes from its own tags (``media.colour``), read from the file by
``with_colours`` before planning; nothing is left to ffmpeg's defaults, which differ
between versions and between a decode from the start and one after a seek.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from rendercli.config import get_settings
from rendercli.errors import InvalidInput
from rendercli.media.colour import (
    OUTPUT_MATRIX,
    OUTPUT_RANGE,
    OUTPUT_TAGS,
    Conversion,
    SourceColour,
    hdr_refusal,
)
from rendercli.render.graph import filter_spec
from rendercli.render.inputs import image_demuxer
from rendercli.render.timeline import TimelineItem

WORKING = Conversion(rgb=False, range=OUTPUT_RANGE, matrix=OUTPUT_MATRIX)


_DIGEST = re.compile(r"[0-9a-f]{64}")
_MATRICES = frozenset(("bt709", "bt601", "bt2020", "fcc", "smpte240m"))


def _memo_file(sha256: str, still: bool) -> Path | None:
    """Where the answer for this content is remembered across processes (the content is
    immutable under its hash, and checked against it before it is encoded), so a render
    that hits the cache opens no file and loads no decoder."""
    if not _DIGEST.fullmatch(sha256):
        return None
    return (get_settings().data_dir / "cache" / "colour"  # no App: the engine's memo
            / f"{sha256}.{'still' if still else 'video'}.json")


def _remembered(file: Path) -> tuple[Conversion, str | None] | None:
    """A remembered answer, only in the shape this module writes (else None: probe)."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    rgb, in_range, matrix, refusal = (data.get(k) for k in ("rgb", "range", "matrix",
                                                              "refusal"))
    if not (isinstance(rgb, bool) and in_range in ("tv", "pc") and matrix in _MATRICES
            and (refusal is None or (isinstance(refusal, str) and len(refusal) <= 500
                                     and refusal.isprintable()))):
        return None
    return Conversion(rgb=rgb, range=in_range, matrix=matrix), refusal


@functools.lru_cache(maxsize=256)
def _probed(path: str, sha256: str, still: bool) -> tuple[Conversion, str | None]:
    from rendercli.media.probe import probe_colour

    file = _memo_file(sha256, still)
    if file is not None and (found := _remembered(file)) is not None:
        return found
    colour, pix_fmt, coded_height = probe_colour(Path(path))
    answer = colour.conversion(pix_fmt, coded_height, still=still), hdr_refusal(colour)
    if file is not None:
        conversion, refusal = answer
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"rgb": conversion.rgb, "range": conversion.range,
                                       "matrix": conversion.matrix, "refusal": refusal}),
                           encoding="utf-8")
            os.replace(tmp, file)
        except OSError:
            pass  # only a memo: probed again next time
    return answer


def source_conversion(item: TimelineItem) -> Conversion:
    """How the render reads ``item``'s picture (probed once per file content). Raises
    InvalidInput for a source the SDR pipeline cannot show (HDR)."""
    try:
        conversion, refusal = _probed(str(item.path), item.sha256, item.kind == "image")
    except InvalidInput:
        # Unreadable here (damaged since ingest, or not on this machine): the defaults
        # for its kind; a render then fails with ffmpeg's own reason. Not remembered.
        jpeg = item.kind == "image" and image_demuxer(Path(item.path)) == "jpeg_pipe"
        pix_fmt = "yuvj420p" if jpeg else ("rgb24" if item.kind == "image" else "yuv420p")
        return SourceColour().conversion(pix_fmt, item.height, still=item.kind == "image")
    if refusal is not None:
        raise InvalidInput(f"{item.name or Path(item.path).name}: {refusal}")
    return conversion


def with_colours(items: Sequence[TimelineItem]) -> list[TimelineItem]:
    """``items`` with each video and image item's colour conversion filled in."""
    return [dataclasses.replace(item, colour=source_conversion(item))
            if item.kind in ("video", "image") and item.colour is None else item
            for item in items]


def scale_in(conversion: Conversion | None) -> dict[str, object]:
    """``scale`` options reading a source as what it is (nothing for RGB sources)."""
    if conversion is None or conversion.rgb:
        return {}
    return {"in_range": conversion.range, "in_color_matrix": conversion.matrix}


def scale_out() -> dict[str, object]:
    """``scale`` options writing the working colour space."""
    return {"out_range": OUTPUT_RANGE, "out_color_matrix": OUTPUT_MATRIX}


def to_rgb(conversion: Conversion | None) -> str:
    """Convert a source's pictures to RGBA explicitly (a still before compositing)."""
    if conversion is None or conversion.rgb:
        return filter_spec("format", "rgba")
    return ",".join((filter_spec("scale", **scale_in(conversion), out_range="pc"),
                     filter_spec("format", "rgba")))


def working_to_rgb(pix_fmt: str = "rgb24") -> str:
    """Our own (working space) pictures to RGB, as a player shows them."""
    return ",".join((filter_spec("scale", **scale_in(WORKING), out_range="pc"),
                     filter_spec("format", pix_fmt)))


def tag() -> str:
    """Tag frames with the working colour space (what the encoder writes in the stream)."""
    return filter_spec("setparams", **OUTPUT_TAGS)
